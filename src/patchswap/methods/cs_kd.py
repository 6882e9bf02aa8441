"""CS-KD (Yun et al. 2020): class-wise self-knowledge distillation.

As alinlab/cs-kd `train.py` and `datasets.py::PairBatchSampler`: a batch is `B` anchors then
`B` same-class partners; cross-entropy on the anchors only; the partners are forwarded
separately under `no_grad` (still in train mode, so their batch statistics are used) and act
as a fixed teacher: `lam * T^2 * KL(softmax(z_partner/T) || softmax(z_anchor/T))`, summed
over classes and divided by `B`. `T` 4; `lam` 1 on CIFAR, 3 on fine-grained datasets.

One difference: our `IntraClassPairSampler` draws a partner other than the anchor when its
class allows, while CS-KD's `random.choice(classwise_indices[y])` may pick the anchor itself.
The paper's method differs from CS-KD in exactly the detach (and the swap).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..losses import distillation_kl
from .base import Batch, Method, PairLogits, StepOutput


@dataclass
class CsKdOptions:
    temperature: float = 4.0
    lam: float = 1.0  # weight of the class-wise term: 1 (CIFAR), 3 (fine-grained)

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ConfigError(f"method.temperature={self.temperature} must be > 0 (CS-KD: 4)")
        if self.lam < 0:
            raise ConfigError(f"method.lam={self.lam} must be >= 0 (CS-KD: 1, fine-grained 3)")


class CsKd(Method):
    """CS-KD: anchors learn from their same-class partner's detached prediction (T 4)."""

    name = "cs_kd"
    paired = True
    Options = CsKdOptions

    def forward(self, model: nn.Module, batch: Batch) -> StepOutput:
        half = len(batch.images) // 2
        anchors = model(batch.images[:half])
        with torch.no_grad():
            partners = model(batch.images[half:])
        kd = distillation_kl(anchors, partners, self.options.temperature)
        return StepOutput(
            {
                "ce": F.cross_entropy(anchors.float(), batch.targets[:half]),
                "class_kd": self.options.lam * kd,
            },
            torch.cat([anchors, partners]),
            batch.targets,
            samples=half,
            pairs=PairLogits(anchors, partners, batch.targets[:half]),
        )
