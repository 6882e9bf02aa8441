"""Online label smoothing (Zhang et al. 2021): class-wise soft labels learned from the model.

A `K x K` matrix `S` holds one soft label per class. During an epoch, the softmax of every
correctly classified sample is accumulated into its class's row; at the start of the next
epoch each row becomes the mean of what was accumulated (uniform `1/K` for a class without a
correct sample) and the accumulators restart. Loss:
`w_hard CE(z, y) + w_soft (-sum_k S[y, k] log softmax(z)_k)`.

Two variants from zhangchbin/OnlineLabelSmoothing:

- `cifar` (default; `cifar/scripts/train_cifar_all_methods.py`): `S` starts at zero (so the
  soft term is 0 in epoch 1), weights 0.5 / 0.5.
- `fine_grained` (`fine-grained/solver.py`): `S` starts uniform, weights 1 / 1, and a class
  whose soft label already has `max >= 0.88` is no longer updated (unless it had no correct
  sample, which resets it to uniform, in the code's order).

`S` and the accumulators are buffers, so checkpoints carry them. Under `torchrun` each step's
contribution is summed over processes, so every process holds the same matrices.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..infra.collectives import all_reduce_sum
from .base import Batch, Method, MethodContext, StepOutput

# variant -> (initial value of S, CE weight, soft-CE weight, freeze threshold or None)
VARIANTS: dict[str, tuple[str, float, float, float | None]] = {
    "cifar": ("zeros", 0.5, 0.5, None),
    "fine_grained": ("uniform", 1.0, 1.0, 0.88),
}


@dataclass
class OlsOptions:
    variant: str = "cifar"  # cifar | fine_grained

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ConfigError(
                f"method.variant={self.variant!r} is unknown; valid: {', '.join(VARIANTS)}"
            )


class Ols(Method):
    """OLS: per-class soft labels averaged from the correct predictions of the last epoch."""

    name = "ols"
    Options = OlsOptions

    def __init__(self, model: nn.Module, options: OlsOptions, context: MethodContext):
        super().__init__(model, options, context)
        k = context.num_classes
        init, self.hard_weight, self.soft_weight, self.freeze_at = VARIANTS[options.variant]
        soft = torch.zeros(k, k) if init == "zeros" else torch.full((k, k), 1.0 / k)
        self.register_buffer("soft_labels", soft)
        self.register_buffer("accumulated", torch.zeros(k, k))
        self.register_buffer("counts", torch.zeros(k))

    def on_epoch_start(self, epoch: int) -> dict[str, float]:
        if epoch > 1:
            self.install_soft_labels()
        return {}

    @torch.no_grad()
    def install_soft_labels(self) -> None:
        """Install last epoch's class means as the soft labels and restart the accumulators."""
        k = self.context.num_classes
        seen = self.counts > 0
        means = self.accumulated / self.counts.clamp(min=1)[:, None]
        update = seen
        if self.freeze_at is not None:
            update = seen & (self.soft_labels.max(dim=1).values < self.freeze_at)
        self.soft_labels[update] = means[update]
        self.soft_labels[~seen] = 1.0 / k
        self.accumulated.zero_()
        self.counts.zero_()

    @torch.no_grad()
    def accumulate(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        """Add the softmax of correctly classified samples to their class's row."""
        probs = F.softmax(logits.float(), dim=1)
        correct = (probs.argmax(dim=1) == targets).to(probs.dtype)
        rows = F.one_hot(targets, probs.shape[1]).to(probs.dtype) * correct[:, None]
        step = torch.cat([rows.T @ probs, rows.sum(dim=0)[:, None]], dim=1)  # matmul: deterministic
        all_reduce_sum(step)  # every process adds the whole global batch
        self.accumulated += step[:, :-1]
        self.counts += step[:, -1]

    def forward(self, model: nn.Module, batch: Batch) -> StepOutput:
        logits = model(batch.images)
        self.accumulate(logits, batch.targets)
        soft = self.soft_labels[batch.targets]
        return StepOutput(
            {
                "ce": self.hard_weight * F.cross_entropy(logits.float(), batch.targets),
                "soft_ce": self.soft_weight * F.cross_entropy(logits.float(), soft),
            },
            logits,
            batch.targets,
        )
