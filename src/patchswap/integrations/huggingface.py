"""Patch swap in a `transformers.Trainer`: a `compute_loss` for image classification.

Needs transformers and accelerate (`pip install patchswap[hf]`)::

    from transformers import TrainingArguments
    from patchswap import ProgressivePr
    from patchswap.integrations.huggingface import PatchSwapTrainer, ScheduledObjective

    trainer = PatchSwapTrainer(
        model=model,  # a transformers image classifier, or any nn.Module returning logits
        args=TrainingArguments(output_dir="out", num_train_epochs=epochs),
        train_dataset=train_set,  # items {"pixel_values": (C, H, W) tensor, "labels": int}
        objective=ScheduledObjective(ProgressivePr(epochs), grid=4),  # or PatchSwapObjective()
    )
    trainer.train()

The model is called as `model(pixel_values)`: a transformers model's output object gives its
`.logits`, a plain module (torchvision, timm, your own) returns the logits itself. Pairs come from
inside each batch (`in_batch_partners`); under DDP (`torchrun` / `accelerate launch`) every
process pairs inside its own batch and the Trainer's DDP averages the gradients. Evaluation is a
plain forward on the unswapped images, with cross-entropy as `eval_loss`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import PatchswapError
from ..objective import PatchSwapObjective
from . import ScheduledObjective, missing_extra

try:
    import transformers
    from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
except ImportError as err:
    raise missing_extra("huggingface", "transformers", "hf") from err


def logits_of(output: Any) -> torch.Tensor:
    """The `(N, C)` logits of a model's output: a tensor, an object or mapping with `logits`
    (transformers' `ImageClassifierOutput`), or a tuple whose first item is the logits."""
    if torch.is_tensor(output):
        return output
    if isinstance(output, Mapping) and "logits" in output:
        return output["logits"]
    if getattr(output, "logits", None) is not None:
        return output.logits
    if isinstance(output, (tuple, list)) and output and torch.is_tensor(output[0]):
        return output[0]
    raise PatchswapError(
        f"the model returned {type(output).__name__}; PatchSwapTrainer needs logits (N, C) or "
        f"an output with .logits"
    )


class LogitsOf(nn.Module):
    """`model` called on images, returning only its logits, as `PatchSwapObjective` expects."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return logits_of(self.model(images))


class PatchSwapCallback(TrainerCallback):
    """Steps a `ScheduledObjective`'s `p_r` at the start of every epoch (`on_epoch_begin`).

    `PatchSwapTrainer` adds it by itself for a `ScheduledObjective`; add it to a Trainer of your
    own that calls the objective. The epoch is 1-based and follows `state.epoch`, so a run
    resumed from a checkpoint continues the schedule.
    """

    def __init__(self, objective: ScheduledObjective) -> None:
        if not isinstance(objective, ScheduledObjective):
            raise PatchswapError(
                f"PatchSwapCallback needs a ScheduledObjective, got {type(objective).__name__}"
            )
        self.objective = objective

    def on_epoch_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        """Set this epoch's `p_r` before its first step."""
        finished = int((state.epoch or 0.0) + 1e-6)  # whole epochs done; state.epoch is a float
        self.objective.start_epoch(finished + 1, args.device)


class PatchSwapTrainer(transformers.Trainer):
    """A `transformers.Trainer` whose training loss is patch swap (`PatchSwapObjective`).

    Args:
        objective: the loss, `PatchSwapObjective(...)` (constant `p_r`, the default with the
            paper's settings) or `ScheduledObjective(schedule, ...)` (a callback steps it).
        generator: optional `torch.Generator` for the pairs and swaps; by default torch's
            global RNG, which the Trainer seeds from `args.seed`.
        image_key, label_key: the batch's keys for the images `(N, C, H, W)` and class ids `(N,)`.
        *args, **kwargs: as `transformers.Trainer`.

    The loss is a per-batch mean, so gradient accumulation divides it as usual and
    `num_items_in_batch` is not used. `compute_loss_func` and label smoothing would replace or
    change the method's cross-entropy, so they are refused.
    """

    def __init__(
        self,
        *args: Any,
        objective: PatchSwapObjective | None = None,
        generator: torch.Generator | None = None,
        image_key: str = "pixel_values",
        label_key: str = "labels",
        **kwargs: Any,
    ) -> None:
        objective = PatchSwapObjective() if objective is None else objective
        if not isinstance(objective, PatchSwapObjective):
            raise PatchswapError(
                f"objective must be a PatchSwapObjective, got {type(objective).__name__}"
            )
        if generator is not None and not isinstance(generator, torch.Generator):
            raise PatchswapError(f"generator must be a torch.Generator, got {type(generator)}")
        refused = (
            "PatchSwapTrainer computes its own loss; leave compute_loss_func unset and "
            "label_smoothing_factor at 0"
        )
        training_args = kwargs.get("args", args[1] if len(args) > 1 else None)
        if getattr(training_args, "label_smoothing_factor", 0):
            raise PatchswapError(refused)  # before the Trainer, which fails less clearly on it
        super().__init__(*args, **kwargs)
        if self.compute_loss_func is not None:
            raise PatchswapError(refused)
        self.objective = objective.to(self.args.device)
        self.generator = generator
        self.image_key, self.label_key = image_key, label_key
        self.model_accepts_loss_kwargs = False  # a per-batch mean: the Trainer scales it for GA
        self.loss_is_scaled_for_ga = False
        if self.args.label_names is None:
            self.label_names = [label_key]
        if isinstance(objective, ScheduledObjective):
            self.add_callback(PatchSwapCallback(objective))

    def _set_signature_columns_if_needed(self) -> None:
        # A `datasets.Dataset` keeps the columns the loss reads, whatever `model.forward` takes.
        if self._signature_columns is None:
            self._signature_columns = [self.image_key, self.label_key, "label", "label_ids"]

    def _batch(self, inputs: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        missing = [k for k in (self.image_key, self.label_key) if k not in inputs]
        if missing:
            raise PatchswapError(
                f"PatchSwapTrainer needs batches with {self.image_key!r} and {self.label_key!r}; "
                f"got keys {sorted(inputs)} (set image_key= / label_key= or rename them)"
            )
        return inputs[self.image_key], inputs[self.label_key]

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """Training: the patch swap loss of the batch (`return_outputs` gives its four terms).
        Evaluation (`model.eval()`): cross-entropy of a plain forward, with the model's outputs."""
        images, labels = self._batch(inputs)
        if not model.training:
            outputs = model(images)
            logits = logits_of(outputs)
            loss = F.cross_entropy(logits.float(), labels)
            if not isinstance(outputs, Mapping):
                outputs = {"logits": logits}
            return (loss, outputs) if return_outputs else loss
        loss, parts = self.objective(
            LogitsOf(model), images, labels, generator=self.generator, return_parts=True
        )
        return (loss, parts) if return_outputs else loss

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        """The Trainer's logs, with the current `p_r` next to the training loss."""
        if "loss" in logs:
            logs = {**logs, "p_r": self.objective.p}
        super().log(logs, *args, **kwargs)


# ScheduledObjective is importable from here too; its documented home is patchswap.integrations
__all__ = ["LogitsOf", "PatchSwapCallback", "PatchSwapTrainer", "logits_of"]
