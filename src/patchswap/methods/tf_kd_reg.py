"""TF-KD_reg (Yuan et al. 2020): distillation from a hand-designed "virtual teacher".

Reproduces yuanli2333/Teacher-free-Knowledge-Distillation `my_loss_function.py::
loss_kd_regularization` with the CIFAR-100 ResNet18 parameters of its
`experiments/**/params.json` (reg_alpha 0.1, reg_temperature 20, multiplier 100):

- the teacher `u` puts `correct_prob` (0.99, hard-coded there) on the label and
  `(1 - correct_prob) / (K - 1)` on every other class;
- the code then applies `softmax(u / T)` to these *probabilities* (so the teacher is nearly
  uniform) and compares it with `log_softmax(z)` at no temperature;
- `nn.KLDivLoss()` with its default reduction 'mean' averages over all `B x K` elements, i.e.
  the per-sample KL divided by `K`; kept, so `multiplier` means what it means there.

Loss: `(1 - alpha) CE + alpha * multiplier * KL(softmax(u/T) || softmax(z)) / K`.

The defaults are the ResNet18 values. For ShuffleNetV2 the authors use alpha 0.95, T 10,
multiplier 1, and for MobileNetV2 0.95 / 40 / 1 (`experiments/base_experiments/
base_shufflenetv2/params.json`, `base_mobilenetv2/params.json`); the CIFAR-100 recipes of those
nets (`cifar100/baselines/*_tf_kd_reg`) set them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..losses import kl_divergence
from .base import Batch, Method, StepOutput
from .label_smoothing import smoothed_targets


@dataclass
class TfKdRegOptions:
    alpha: float = 0.1  # weight of the virtual-teacher term; CE gets 1 - alpha
    temperature: float = 20.0  # applied to the teacher's probabilities only, as in the code
    multiplier: float = 100.0
    correct_prob: float = 0.99  # the virtual teacher's probability of the label

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"method.alpha={self.alpha} must be in [0, 1] (TF-KD: 0.1)")
        if self.temperature <= 0:
            raise ConfigError(f"method.temperature={self.temperature} must be > 0 (TF-KD: 20)")
        if self.multiplier < 0:
            raise ConfigError(f"method.multiplier={self.multiplier} must be >= 0 (TF-KD: 100)")
        if not 0.0 < self.correct_prob <= 1.0:
            raise ConfigError(
                f"method.correct_prob={self.correct_prob} must be in (0, 1] (TF-KD: 0.99)"
            )


class TfKdReg(Method):
    """TF-KD with a virtual teacher: 0.99 on the label, T 20, alpha 0.1, multiplier 100."""

    name = "tf_kd_reg"
    Options = TfKdRegOptions

    def forward(self, model: nn.Module, batch: Batch) -> StepOutput:
        o = self.options
        logits = model(batch.images)
        num_classes = logits.shape[1]
        teacher = smoothed_targets(batch.targets, num_classes, 1.0 - o.correct_prob, "others")
        # KL(softmax(u/T) || softmax(z)) is kl_divergence with u/T as the teacher's logits.
        kl = kl_divergence(teacher / o.temperature, logits, 1.0) / num_classes
        return StepOutput(
            {
                "ce": (1.0 - o.alpha) * F.cross_entropy(logits.float(), batch.targets),
                "virtual_teacher": o.alpha * o.multiplier * kl,
            },
            logits,
            batch.targets,
        )
