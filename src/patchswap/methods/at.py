"""Attention transfer (Zagoruyko & Komodakis 2017) from a pretrained teacher's stages.

Per stage the attention map is `normalize(mean_c(f^p))` flattened over space; the loss is the
mean squared difference of student and teacher maps, summed over stages. `CE + 1000 * L_at`,
`p = 2`: RepDistiller `distiller_zoo/AT.py`, `scripts/run_cifar_distill.sh`
(`--distill attention -a 0 -b 1000`), `helper/loops.py` (stage outputs `feat[1:-1]`).

Stages come from `find_stages`: RepDistiller's `feat[1:-1]` for every registered model (a
VGG's `block1..block4`, a ResNet's `layer1..layerN`). As in RepDistiller's `AT.at_loss`, when
two paired maps differ in size the larger is average-pooled down to the smaller (a VGG16
student's `block1` is 16x16, its ResNet101 teacher's `layer1` 32x32). When the nets have
different numbers of stages, the last `N` of each are paired (RepDistiller zips from the first;
every Table 4 pair has four stages on both sides, where the two agree).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import Batch, MethodContext
from .features import Stage, find_stages
from .teacher_student import FeatureDistillationOptions, Features, TeacherStudent


@dataclass
class ATOptions(FeatureDistillationOptions):
    beta: float = 1000.0
    p: float = 2.0  # exponent of the activation before averaging over channels

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.p <= 0:
            raise ConfigError(f"method.p={self.p} must be > 0 (attention uses f^p; default 2)")


def paired_stages(student: list[Stage], teacher: list[Stage]) -> list[tuple[Stage, Stage]]:
    """The last `N` stages of each net, paired in order."""
    n = min(len(student), len(teacher))
    return list(zip(student[-n:], teacher[-n:]))


def attention_map(feature: torch.Tensor, p: float) -> torch.Tensor:
    """`(B, H*W)` L2-normalized spatial attention `mean_c(f^p)`."""
    return F.normalize(feature.pow(p).mean(1).flatten(1))


def attention_loss(student: torch.Tensor, teacher: torch.Tensor, p: float) -> torch.Tensor:
    """Mean squared difference of the two attention maps, the larger feature map first
    average-pooled to the size of the smaller."""
    s_size, t_size = student.shape[2:], teacher.shape[2:]
    if s_size[0] > t_size[0]:
        student = F.adaptive_avg_pool2d(student, t_size)
    elif t_size[0] > s_size[0]:
        teacher = F.adaptive_avg_pool2d(teacher, s_size)
    return (attention_map(student, p) - attention_map(teacher, p)).pow(2).mean()


class AT(TeacherStudent):
    """Attention transfer: match normalized spatial attention maps of paired stages."""

    name = "at"
    Options = ATOptions

    def __init__(self, model: nn.Module, options: ATOptions, context: MethodContext) -> None:
        super().__init__(model, options, context)
        size = context.image_size
        pairs = paired_stages(
            find_stages(model, context.in_channels, size),
            find_stages(self.teacher, context.in_channels, size),
        )
        self.watch(model, [s.name for s, _ in pairs], [t.name for _, t in pairs])

    def method_loss(self, student: Features, teacher: Features, batch: Batch) -> torch.Tensor:
        p = self.options.p
        return sum(attention_loss(s, t, p) for s, t in zip(student.maps, teacher.maps))
