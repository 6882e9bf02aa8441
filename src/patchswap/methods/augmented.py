"""Hard label plus one batch augmentation: the Cutout, CutMix and MixUp baselines (Table 10).

One class does the step; each registered method only names its augmentation, whose dataclass
(`patchswap.augment`) is also the method's options, so the defaults live in one place and are
the official ones. The images are augmented after normalization, as the official codes do.
"""

from __future__ import annotations

from torch import nn

from ..augment import BatchAugment, CutMix, Cutout, MixUp, mixed_cross_entropy
from .base import Batch, Method, StepOutput


class AugmentedHardLabel(Method):
    """Cross-entropy on an augmented batch, two-label mixed as the augmentation says."""

    options: BatchAugment

    def forward(self, model: nn.Module, batch: Batch) -> StepOutput:
        mixed = self.options(batch.images, batch.targets)
        logits = model(mixed.images)
        loss = mixed_cross_entropy(logits, mixed.targets_a, mixed.targets_b, mixed.lam)
        return StepOutput({"ce": loss}, logits, batch.targets)


class CutoutHardLabel(AugmentedHardLabel):
    """Hard label + Cutout: one 8x8 zeroed square per image (DeVries & Taylor 2017)."""

    name = "cutout"
    Options = Cutout


class CutMixHardLabel(AugmentedHardLabel):
    """Hard label + CutMix: paste a box from a shuffled batch, p 0.5 (Yun et al. 2019)."""

    name = "cutmix"
    Options = CutMix


class MixUpHardLabel(AugmentedHardLabel):
    """Hard label + MixUp: convex mix with a shuffled batch, alpha 1 (Zhang et al. 2018)."""

    name = "mixup"
    Options = MixUp
