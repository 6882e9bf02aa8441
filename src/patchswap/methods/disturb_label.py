"""DisturbLabel (Xie et al. 2016): regularize by training on randomly replaced labels.

Each sample's label is, with probability `alpha`, replaced by a class drawn uniformly from all
`K` classes (so it actually changes with probability `alpha (K-1) / K`), then plain
cross-entropy. There is no official code; `alpha` 0.1 is the value of the OLS authors'
reimplementation (zhangchbin/OnlineLabelSmoothing `cifar/scripts/loss_all_methods.py::
DisturbLabel`). Train accuracy is reported against the true labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import Batch, Method, StepOutput


@dataclass
class DisturbLabelOptions:
    alpha: float = 0.1  # probability that a label is redrawn uniformly from all K classes

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"method.alpha={self.alpha} must be in [0, 1] (OLS's value: 0.1)")


def disturb_labels(targets: torch.Tensor, num_classes: int, alpha: float) -> torch.Tensor:
    """`targets` with each entry redrawn from `U{0..K-1}` with probability `alpha`."""
    redraw = torch.rand(targets.shape, device=targets.device) < alpha
    random = torch.randint(num_classes, targets.shape, device=targets.device)
    return torch.where(redraw, random, targets)


class DisturbLabel(Method):
    """DisturbLabel: cross-entropy on labels redrawn uniformly with probability alpha (0.1)."""

    name = "disturb_label"
    Options = DisturbLabelOptions

    def forward(self, model: nn.Module, batch: Batch) -> StepOutput:
        logits = model(batch.images)
        noisy = disturb_labels(batch.targets, logits.shape[1], self.options.alpha)
        loss = F.cross_entropy(logits.float(), noisy)
        return StepOutput({"ce_disturbed": loss}, logits, batch.targets)
