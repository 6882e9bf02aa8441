"""Similarity-preserving distillation (Tung & Mori 2019) from a pretrained teacher.

For a batch, `G = normalize_rows(F F^T)` with `F` the flattened last feature map before global
pooling; the loss is `||G_t - G_s||_F^2 / B^2`. `CE + 3000 * L_sp`: RepDistiller
`distiller_zoo/SP.py`, `scripts/run_cifar_distill.sh` (`--distill similarity -a 0 -b 3000`).
RepDistiller feeds SP `feat[-2]` (`helper/loops.py`): the last stage's feature map, not the
pooled embedding; here that is the last stage `find_stages` reports for each net.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import Batch, MethodContext
from .features import find_stages
from .teacher_student import FeatureDistillationOptions, Features, TeacherStudent


@dataclass
class SPOptions(FeatureDistillationOptions):
    beta: float = 3000.0


def similarity(feature: torch.Tensor) -> torch.Tensor:
    """`(B, B)` Gram matrix of the flattened features, each row L2-normalized."""
    flat = feature.flatten(1)
    return F.normalize(flat @ flat.t())


def similarity_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Squared Frobenius distance of the two similarity matrices over `B^2`."""
    batch = student.shape[0]
    return (similarity(teacher) - similarity(student)).pow(2).sum() / (batch * batch)


class SP(TeacherStudent):
    """Similarity-preserving KD: match the batch's pairwise similarity of last feature maps."""

    name = "sp"
    Options = SPOptions

    def __init__(self, model: nn.Module, options: SPOptions, context: MethodContext) -> None:
        super().__init__(model, options, context)
        last = [
            find_stages(net, context.in_channels, context.image_size)[-1].name
            for net in (model, self.teacher)
        ]
        self.watch(model, last[:1], last[1:])

    def method_loss(self, student: Features, teacher: Features, batch: Batch) -> torch.Tensor:
        return similarity_loss(student.maps[0], teacher.maps[0])
