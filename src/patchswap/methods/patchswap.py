"""Intra-class patch swap self-distillation (Choi et al. 2025), the method of this project.

Each step takes anchors and their same-class partners, swaps random grid cells between each
pair with probability `p_r` (`patchswap.swap`), forwards both halves in one pass and applies
the symmetric self-distillation loss (`patchswap.losses.SelfDistillationLoss`).

Ablations from the paper, by options: `p: 0` is intra-class self-distillation without swap;
`alpha: 0` is "Hard Label + Swap" (cross-entropy on the swapped pair only); `grid: 2` is the
2x2 variant; `schedule: progressive` is Table 15's increasing `p_r`; `one_cell: true` swaps a
single cell per pair as the paper's printed listing does.

Both halves go through the network in one forward of `2 x batch_size` images, so batch-norm
statistics are computed over the whole pair batch (as CS-KD and DLB do for their pairs).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from ..losses import SelfDistillationLoss
from ..schedules import build_pr_schedule
from ..swap import patch_swap, validate_swap_args
from .base import Batch, Method, MethodContext, StepOutput


@dataclass
class PatchSwapOptions:
    grid: int = 4  # cells per side: 4 is the paper's "4x4"
    p: float = 0.5  # p_r of a constant schedule
    schedule: str = "constant"  # constant | progressive (Table 15: 0.1 -> 0.2 -> 0.3 -> 0.5)
    one_cell: bool = False  # the paper listing's one-cell variant (ablation)
    temperature: float = 4.0
    gamma: float = 1.0  # cross-entropy weight
    alpha: float = 1.0  # KL weight


class PatchSwap(Method):
    """Cross-entropy on both swapped images plus symmetric temperature-scaled KL between them."""

    name = "patchswap"
    paired = True
    Options = PatchSwapOptions

    def __init__(self, model: nn.Module, options: PatchSwapOptions, context: MethodContext):
        super().__init__(model, options, context)
        height, width = context.image_size
        try:
            validate_swap_args(height, width, options.grid, options.p)
            self.schedule = build_pr_schedule(options.schedule, options.p, context.epochs)
            self.loss = SelfDistillationLoss(options.temperature, options.gamma, options.alpha)
        except ValueError as err:
            raise ConfigError(f"method: {err}") from None
        self.p = self.schedule(1)

    def on_epoch_start(self, epoch: int) -> dict[str, float]:
        self.p = self.schedule(epoch)
        return {"p_r": self.p}

    def forward(self, model: nn.Module, batch: Batch) -> StepOutput:
        half = len(batch.images) // 2
        xa, xb = patch_swap(
            batch.images[:half],
            batch.images[half:],
            grid=self.options.grid,
            p=self.p,
            one_cell=self.options.one_cell,
        )
        logits = model(torch.cat([xa, xb]))
        losses = self.loss.components(logits[:half], logits[half:], batch.targets[:half])
        return StepOutput(losses, logits, batch.targets)
