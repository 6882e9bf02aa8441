"""Intra-class patch swap self-distillation (Choi et al. 2025), the method of this project.

Each step takes anchors and their same-class partners, swaps random grid cells between each
pair with probability `p_r` (`patchswap.swap`), forwards both halves in one pass and applies
the symmetric self-distillation loss (`patchswap.losses.SelfDistillationLoss`).

Ablations from the paper, by options: `p: 0` is intra-class self-distillation without swap;
`alpha: 0` is "Hard Label + Swap" (cross-entropy on the swapped pair only); `grid: 2` is the
2x2 variant; `schedule: progressive` is Table 15's increasing `p_r`; `one_cell: true` swaps a
single cell per pair as the paper's printed listing does.

Table 13 (the method with CutMix, Cutout or MixUp): `mix: cutmix|cutout|mixup`, with the
augmentation's own options under `mix_options` (`patchswap.augment`; official defaults). The
order is **mix, then swap**: the paper's "No swap" (`p_r = 0`) feeds "mixing-augmented inputs"
to the pair framework, so the mixed images are the inputs whose patches get swapped, and
DESIGN.md puts every augmentation before the swap. CutMix/MixUp mix both halves of the pair
batch with one draw (the same partner permutation within each half, the same `lam` and box),
so anchor `i` and partner `i` keep identical `(targets_a, targets_b, lam)`; because the box is
at the same place in both images, the swap moves pixels of the same source class and the
targets stay exact. Cutout draws a hole per image, independently in each half, as a
per-sample transform would. The CE terms become `lam CE(y_a) + (1-lam) CE(y_b)`; the KL
terms between the halves are unchanged. `mix: none` (the default) is the plain method.

Forward (`forward: separate`, the default): the swapped anchors and the swapped partners go
through the network in **two passes**, as Algorithm 1 of the paper computes `f(x_a_hat)` and
`f(x_b_hat)` (lines 3-4); in train mode batch norm normalizes each half with its own batch
statistics. CS-KD (alinlab/cs-kd `train.py`: anchors, then partners under `no_grad`) and DLB
(`dlb.py`: this batch, then the previous one) forward their halves separately too.
`forward: joint` sends the `2 x batch_size` images through one pass, batch statistics over the
whole pair batch (this project's behaviour before 0.2; the study measures both).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..augment import AUGMENTATIONS, BatchAugment, Mixed, mixed_cross_entropy
from ..config import build_dataclass
from ..errors import ConfigError
from ..losses import SelfDistillationLoss
from ..schedules import build_pr_schedule
from ..swap import patch_swap, validate_swap_args
from .base import Batch, Method, MethodContext, StepOutput

FORWARDS = ("separate", "joint")


@dataclass
class PatchSwapOptions:
    grid: int = 4  # cells per side: 4 is the paper's "4x4"
    p: float = 0.5  # p_r of a constant schedule
    schedule: str = "constant"  # constant | progressive (Table 15: 0.1 -> 0.2 -> 0.3 -> 0.5)
    one_cell: bool = False  # the paper listing's one-cell variant (ablation)
    temperature: float = 4.0
    gamma: float = 1.0  # cross-entropy weight
    alpha: float = 1.0  # KL weight
    mix: str = "none"  # none | cutout | cutmix | mixup, applied before the swap (Table 13)
    mix_options: dict[str, Any] = field(default_factory=dict)  # e.g. {prob: 0.5, beta: 1.0}
    forward: str = "separate"  # separate (Algorithm 1: two passes) | joint (one pass of 2B)

    def __post_init__(self) -> None:
        if self.forward not in FORWARDS:
            raise ConfigError(
                f"method.forward={self.forward!r} is unknown; valid: {', '.join(FORWARDS)}"
            )


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
        self.mix = build_mix(options.mix, options.mix_options)

    def on_epoch_start(self, epoch: int) -> dict[str, float]:
        self.p = self.schedule(epoch)
        return {"p_r": self.p}

    def forward(self, model: nn.Module, batch: Batch) -> StepOutput:
        half = len(batch.images) // 2
        if self.mix is None:
            mixed = Mixed(batch.images, batch.targets, batch.targets, 1.0)
        else:
            mixed = self.mix(batch.images, batch.targets, groups=2)
        xa, xb = patch_swap(
            mixed.images[:half],
            mixed.images[half:],
            grid=self.options.grid,
            p=self.p,
            one_cell=self.options.one_cell,
        )
        if self.options.forward == "separate":
            logits = torch.cat([model(xa), model(xb)])
        else:
            logits = model(torch.cat([xa, xb]))
        ya, yb = mixed.targets_a[:half], mixed.targets_b[:half]
        losses = self.loss.components(logits[:half], logits[half:], ya)
        if mixed.lam < 1.0:  # two-label CE (Table 13); the KL terms do not involve labels
            weight = self.loss.gamma / 2
            losses["ce_a"] = weight * mixed_cross_entropy(logits[:half], ya, yb, mixed.lam)
            losses["ce_b"] = weight * mixed_cross_entropy(logits[half:], ya, yb, mixed.lam)
        return StepOutput(losses, logits, batch.targets)


def build_mix(name: str, options: dict[str, Any]) -> BatchAugment | None:
    """The batch augmentation named by `method.mix`, built from `method.mix_options`."""
    if name == "none":
        if options:
            raise ConfigError(
                f"method.mix_options={options} needs method.mix; set it to cutout, cutmix or mixup"
            )
        return None
    if name not in AUGMENTATIONS:
        valid = ", ".join(["none", *AUGMENTATIONS])
        raise ConfigError(f"method.mix={name!r} is unknown; valid: {valid}")
    return build_dataclass(AUGMENTATIONS[name], options, "method.mix_options.", f"mix {name!r}")
