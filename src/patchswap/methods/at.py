"""Attention transfer (Zagoruyko & Komodakis 2017) from a pretrained teacher's stages.

Per stage the attention map is `normalize(mean_c(f^p))` flattened over space; the loss is the
mean squared difference of student and teacher maps, summed over stages. `CE + 1000 * L_at`,
`p = 2`: RepDistiller `distiller_zoo/AT.py`, `scripts/run_cifar_distill.sh`
(`--distill attention -a 0 -b 1000`), `helper/loops.py` (stage outputs `feat[1:-1]`).

Stages come from `find_stages` (the last module at each resolution). When the nets have
different numbers of stages, the last `N` of each are paired. RepDistiller pairs `feat[1:-1]`
by position and average-pools the larger map down to the smaller one; here paired stages must
have the same size (true for every Table 4 pair) and a mismatch is an error instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, PatchswapError
from .base import Batch, MethodContext
from .features import Stage, find_stages
from .teacher_student import FeatureDistillationOptions, Features, TeacherStudent


@dataclass
class ATOptions(FeatureDistillationOptions):
    beta: float = 1000.0
    p: float = 2.0  # exponent of the activation before averaging over channels


def paired_stages(student: list[Stage], teacher: list[Stage]) -> list[tuple[Stage, Stage]]:
    """The last `N` stages of each net, paired in order; sizes must agree."""
    n = min(len(student), len(teacher))
    pairs = list(zip(student[-n:], teacher[-n:]))
    for s, t in pairs:
        if s.size != t.size:
            raise PatchswapError(
                f"at: student stage {s.name!r} is {s.size[0]}x{s.size[1]} but the teacher stage "
                f"paired with it, {t.name!r}, is {t.size[0]}x{t.size[1]}; use a teacher whose "
                "stages downsample like the student's"
            )
    return pairs


def attention_map(feature: torch.Tensor, p: float) -> torch.Tensor:
    """`(B, H*W)` L2-normalized spatial attention `mean_c(f^p)`."""
    return F.normalize(feature.pow(p).mean(1).flatten(1))


def attention_loss(student: torch.Tensor, teacher: torch.Tensor, p: float) -> torch.Tensor:
    """Mean squared difference of the two attention maps."""
    return (attention_map(student, p) - attention_map(teacher, p)).pow(2).mean()


class AT(TeacherStudent):
    """Attention transfer: match normalized spatial attention maps of paired stages."""

    name = "at"
    Options = ATOptions

    def __init__(self, model: nn.Module, options: ATOptions, context: MethodContext) -> None:
        super().__init__(model, options, context)
        if options.p <= 0:
            raise ConfigError(f"method.p={options.p} must be > 0 (attention uses f^p; default 2)")
        size = context.image_size
        pairs = paired_stages(
            find_stages(model, context.in_channels, size),
            find_stages(self.teacher, context.in_channels, size),
        )
        self.watch(model, [s.name for s, _ in pairs], [t.name for _, t in pairs])

    def method_loss(self, student: Features, teacher: Features, batch: Batch) -> torch.Tensor:
        p = self.options.p
        return sum(attention_loss(s, t, p) for s, t in zip(student.maps, teacher.maps))
