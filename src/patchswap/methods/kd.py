"""Knowledge distillation (Hinton et al. 2015) from a pretrained teacher.

`0.1 * CE + 0.9 * KL_T` with `T = 4`: RepDistiller `scripts/run_cifar_distill.sh`
(`--distill kd -r 0.1 -a 0.9 -b 0`), `distiller_zoo/KD.py::DistillKL`, `train_student.py`
(`--kd_T 4`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .teacher_student import TeacherStudent, TeacherStudentOptions


@dataclass
class KDOptions(TeacherStudentOptions):
    gamma: float = 0.1
    alpha: float = 0.9


class KD(TeacherStudent):
    """Knowledge distillation: cross-entropy plus KL to a pretrained teacher's softened logits."""

    name = "kd"
    Options = KDOptions
