"""The distillation term the self-distillation baselines share (CS-KD, DDGSD, DLB, BYOT).

Each of them matches a prediction to a *fixed* target prediction of the same network (the
partner, the other view, the previous batch, the deepest classifier), so the target is
detached here once instead of in every method.
"""

from __future__ import annotations

import torch

from ..losses import kl_divergence


def distillation_kl(
    student: torch.Tensor, teacher: torch.Tensor, temperature: float
) -> torch.Tensor:
    """`T^2 KL(softmax(teacher/T) || softmax(student/T))`, batch mean, `teacher` stop-gradient.

    This is Hinton's KD term (`KL_T` in `reference/baselines.md`); `T^2` keeps its gradient
    scale independent of the temperature.
    """
    return temperature**2 * kl_divergence(teacher.detach(), student, temperature)
