"""TF-KD self (Yuan et al. 2020): distill from a pretrained copy of the same architecture.

`(1 - alpha) * CE + alpha * T^2 * multiplier * KLDivLoss()(log_softmax(z/T), softmax(t/T))`
exactly as yuanli2333/Teacher-free-Knowledge-Distillation `my_loss_function.py::loss_kd_self`,
teacher in eval mode (`train_kd.py`); ResNet18 on CIFAR-100 uses alpha 0.95, T 6,
multiplier 50 (`experiments/kd_experiments/resnet18_distill/resnet18_self_teacher/
params.json`). `nn.KLDivLoss()` reduces with 'mean' over all `B x K` elements, i.e. the
per-sample KL divided by `K`; that scaling is kept, so the multiplier means what it means
there (50 with `K = 100` weighs the per-sample KL by 0.5). For ShuffleNetV2 and MobileNetV2 the
authors use alpha 0.95, T 20, multiplier 1 (`shufflenet_distill/shufflenet_self_teacher`,
`mobilenet_distill/mobilenet_self_teacher`); the CIFAR-100 recipes of those nets set them.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..errors import ConfigError
from .base import MethodContext
from .teacher_student import TeacherStudent, check_distillation_options


@dataclass
class TFKDSelfOptions:
    teacher: str | None = None  # best.pt / run folder of the same architecture (required)
    alpha: float = 0.95  # weight of the KL term; CE gets 1 - alpha
    temperature: float = 6.0
    multiplier: float = 50.0

    def __post_init__(self) -> None:
        check_distillation_options(self)
        if self.alpha > 1:
            raise ConfigError(f"method.alpha={self.alpha} must be in [0, 1] (default 0.95)")


class TFKDSelf(TeacherStudent):
    """TF-KD self: KD from a pretrained copy of the student's own architecture."""

    name = "tf_kd_self"
    Options = TFKDSelfOptions

    def __init__(self, model: nn.Module, options: TFKDSelfOptions, context: MethodContext):
        super().__init__(model, options, context)
        student = {k: v.shape for k, v in model.state_dict().items()}
        teacher = {k: v.shape for k, v in self.teacher.state_dict().items()}
        if type(model) is not type(self.teacher) or student != teacher:
            raise ConfigError(
                f"method.teacher={options.teacher!r} is not the student's architecture; "
                "tf_kd_self needs a checkpoint of this run's own model (e.g. its hard_label run)"
            )

    @property
    def ce_weight(self) -> float:
        return 1.0 - self.options.alpha

    @property
    def kd_weight(self) -> float:
        """`alpha * multiplier / K`: KLDivLoss's element mean is the batch-mean KL over `K`."""
        return self.options.alpha * self.options.multiplier / self.context.num_classes
