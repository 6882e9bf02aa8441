"""Patch swap in Lightning and Hugging Face: the loss in one line, the `p_r` schedule per epoch.

`patchswap` itself never imports this package's framework modules, so it works without them:

- `patchswap.integrations.lightning` (`pip install patchswap[lightning]`): `PatchSwapCallback`
  steps the schedule in `on_train_epoch_start`; the loss is `self.patchswap(self, x, y)`.
- `patchswap.integrations.huggingface` (`pip install patchswap[hf]`): `PatchSwapTrainer`, a
  `transformers.Trainer` whose `compute_loss` is the patch swap loss.

Both pair each sample with another of its class in the same (per-rank) batch, as
`PatchSwapObjective` does (`method.pairs: batch`), and leave DDP to the framework.
`ScheduledObjective`, the one piece they share, is defined here on plain torch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..errors import PatchswapError
from ..infra import argument_checks as check
from ..objective import PatchSwapObjective
from ..schedules import AdaptivePr

PrSchedule = Callable[..., float]  # ConstantPr, ProgressivePr, AdaptivePr or epoch -> p_r


class MissingExtraError(PatchswapError, ImportError):
    """A framework integration imported without its framework (an `except ImportError` sees it)."""


def missing_extra(module: str, framework: str, extra: str) -> MissingExtraError:
    """The one-line error for an integration whose optional dependency is not installed."""
    return MissingExtraError(
        f"patchswap.integrations.{module} needs {framework}, which is not installed; "
        f"pip install patchswap[{extra}]"
    )


class ScheduledObjective(PatchSwapObjective):
    """`PatchSwapObjective` whose `p_r` follows a schedule, stepped once per epoch by a hook.

    The loss is exactly `PatchSwapObjective`'s (this class only sets `p` and, for `AdaptivePr`,
    counts the swapped samples the model gets right, which that schedule reads). A framework
    callback calls `start_epoch(epoch)` at the start of every epoch (1-based);
    `p = schedule(1)` until then. In Lightning keep it as an attribute of the module, where the
    callback finds it and the adaptive counts go into the module's checkpoints.

    Args:
        schedule: `ConstantPr`, `ProgressivePr`, `AdaptivePr` (`build_pr_schedule`) or any
            callable from a 1-based epoch to a probability.
        grid, temperature, gamma, alpha, forward, one_cell, pairing: as `PatchSwapObjective`.
    """

    def __init__(
        self,
        schedule: PrSchedule,
        grid: int = 4,
        temperature: float = 4.0,
        gamma: float = 1.0,
        alpha: float = 1.0,
        *,
        forward: str | None = None,
        one_cell: bool = False,
        pairing: str = "batch",
    ) -> None:
        if not callable(schedule):
            raise check.fail("schedule", schedule, "a p_r schedule such as ProgressivePr(epochs)")
        p = check.probability("schedule(1)", schedule(1))
        super().__init__(
            grid, p, temperature, gamma, alpha, forward=forward, one_cell=one_cell, pairing=pairing
        )
        self.schedule = schedule
        self.adaptive = isinstance(schedule, AdaptivePr)
        self.last_accuracy: float | None = None  # what AdaptivePr read at the last epoch start
        # Correct and seen swapped samples of this process's epoch, summed on the device. Not a
        # buffer: DDP would overwrite every rank's counts with rank 0's at each forward; saved
        # with the module's state_dict all the same (`get_extra_state`).
        self.epoch_hits = torch.zeros(2, dtype=torch.float64)

    def _observe(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        """Count top-1 hits on the swapped images in training, for `AdaptivePr` (on the
        device: no host sync per step), whichever pairing made them."""
        if self.adaptive and torch.is_grad_enabled():
            if self.epoch_hits.device != logits.device:  # follows the model, not `.to()`
                self.epoch_hits = self.epoch_hits.to(logits.device)
            hits = (logits.detach().argmax(1) == targets).sum()
            self.epoch_hits += torch.stack([hits.to(torch.float64), hits.new_tensor(len(logits))])

    def start_epoch(self, epoch: int, device: torch.device | str | None = None) -> float:
        """Set and return `p_r` for `epoch` (1-based); `AdaptivePr` gets the previous epoch's
        swapped-pair accuracy, summed over DDP processes so every rank uses the same `p_r`.
        `device`: the model's, where the counts are kept and reduced (NCCL needs CUDA)."""
        epoch = check.integer("epoch", epoch, 1, " (epochs count from 1)")
        if not self.adaptive:
            self.p = check.probability("p_r", self.schedule(epoch))
            return self.p
        if device is not None:
            self.epoch_hits = self.epoch_hits.to(device)
        accuracy = None
        if epoch > 1:
            hits = self.epoch_hits.clone()
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.all_reduce(hits)
            correct, seen = hits.tolist()  # one host sync per epoch
            accuracy = correct / seen if seen else None
        self.last_accuracy = accuracy
        self.epoch_hits.zero_()
        self.p = check.probability("p_r", self.schedule(epoch, accuracy))
        return self.p

    def get_extra_state(self) -> dict[str, torch.Tensor]:
        """The adaptive counts in checkpoints, so a resumed run reads the interrupted epoch's."""
        return {"epoch_hits": self.epoch_hits.detach().cpu()} if self.adaptive else {}

    def set_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        """Restore the adaptive counts of `get_extra_state` (by `load_state_dict`)."""
        if self.adaptive and "epoch_hits" in state:
            self.epoch_hits = state["epoch_hits"].to(self.epoch_hits.device, torch.float64)


def find_objectives(module: nn.Module) -> dict[str, ScheduledObjective]:
    """Every `ScheduledObjective` inside `module`, by its attribute path (e.g. `patchswap`)."""
    found = module.named_modules()
    return {name or "objective": m for name, m in found if isinstance(m, ScheduledObjective)}


__all__ = ["MissingExtraError", "PrSchedule", "ScheduledObjective", "find_objectives"]
