"""Label smoothing (Szegedy et al. 2016): cross-entropy against a softened one-hot target.

Two conventions exist in the code the paper's baselines come from (`reference/baselines.md`):

- `all` (default): `(1 - eps) * onehot + eps / K` over all classes, as PyTorch's
  `CrossEntropyLoss(label_smoothing=eps)`, timm and the OLS repository
  (zhangchbin/OnlineLabelSmoothing `cifar/scripts/loss_all_methods.py::label_smooth`).
- `others`: `1 - eps` on the target and `eps / (K - 1)` on every other class, as TF-KD
  (yuanli2333/Teacher-free-Knowledge-Distillation `my_loss_function.py::loss_label_smoothing`)
  and Zipf's LS (megvii-research/zipfls `pytorch_zipfls/losses.py::label_smooth_loss`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import Batch, Method, StepOutput

CONVENTIONS = ("all", "others")


@dataclass
class LabelSmoothingOptions:
    eps: float = 0.1  # probability mass taken from the target class
    convention: str = "all"  # all: eps/K on every class | others: eps/(K-1) on the others

    def __post_init__(self) -> None:
        if not 0.0 <= self.eps < 1.0:
            raise ConfigError(f"method.eps={self.eps} must be in [0, 1) (the usual value is 0.1)")
        if self.convention not in CONVENTIONS:
            raise ConfigError(
                f"method.convention={self.convention!r} is unknown; valid: {', '.join(CONVENTIONS)}"
            )


def smoothed_targets(
    targets: torch.Tensor, num_classes: int, eps: float, convention: str
) -> torch.Tensor:
    """The `(B, K)` smoothed label distribution of `targets` under `convention`."""
    off = eps / num_classes if convention == "all" else eps / (num_classes - 1)
    on = 1.0 - eps + (off if convention == "all" else 0.0)
    soft = torch.full((len(targets), num_classes), off, device=targets.device)
    return soft.scatter_(1, targets[:, None], on)


class LabelSmoothing(Method):
    """Cross-entropy with label smoothing (eps 0.1; eps/K or eps/(K-1) convention)."""

    name = "label_smoothing"
    Options = LabelSmoothingOptions

    def forward(self, model: nn.Module, batch: Batch) -> StepOutput:
        logits = model(batch.images)
        soft = smoothed_targets(
            batch.targets, logits.shape[1], self.options.eps, self.options.convention
        )
        loss = F.cross_entropy(logits.float(), soft)
        return StepOutput({"ce_smooth": loss}, logits, batch.targets)
