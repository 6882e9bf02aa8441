"""FER (Deng et al. 2022, "Reducing flipping errors"): keep what was once predicted right.

As Xiang-Deng-DL/FER `helper/loops.py` (`train_vanilla`, `train_fer`), `train_fer.py` and
`train.sh`. A per-sample memory `M` (N x K) holds a running soft label, and a flag records
whether the sample was ever classified correctly. After every forward, for each currently
correct sample: `M_i <- (1 - w) M_i + w softmax(z_i / T)` with `w = 1 - exp(-mu p_i[y])`
(`p` at temperature 1), and the flag is set. Epoch 1 is plain cross-entropy (memory still
updated). From epoch 2, with `r = e / E` (1-based epoch over total epochs), per sample:

- flagged: `[gamma + (1 - r)(1 - gamma)] CE + r (1 - gamma) T^2 (-sum_k M_ik log softmax(z/T)_k)`
- not flagged: `CE`

summed over the batch and divided by `B`; the loss terms read the memory before this step's
update. `gamma` 0.1, `T` 5, `mu` 1.0 for ResNet18 (0.3 WRN-40-2 / MobileNetV2, 0.5
ShuffleV2; `train.sh`; MobileNetV2 and ShuffleV2 train at lr 0.01), which the CIFAR-100
recipes set per architecture. The memory and flags are buffers indexed by dataset index, so
checkpoints carry them (N x K floats: 20 MB for CIFAR-100). Under `torchrun` every process
applies the updates of the whole global batch, so all processes hold the same memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, PatchswapError
from ..infra.collectives import all_gather
from .base import Batch, Method, MethodContext, StepOutput


@dataclass
class FerOptions:
    gamma: float = 0.1  # the smallest weight cross-entropy decays to on learned samples
    temperature: float = 5.0
    mu: float = 1.0  # memory update speed: 1.0 ResNet18, 0.3 WRN-40-2/MobileNetV2, 0.5 ShuffleV2

    def __post_init__(self) -> None:
        if not 0.0 <= self.gamma <= 1.0:
            raise ConfigError(f"method.gamma={self.gamma} must be in [0, 1] (FER: 0.1)")
        if self.temperature <= 0:
            raise ConfigError(f"method.temperature={self.temperature} must be > 0 (FER: 5)")
        if self.mu <= 0:
            raise ConfigError(f"method.mu={self.mu} must be > 0 (FER: 1.0 for ResNet18)")


class Fer(Method):
    """FER: a per-sample memory of past correct predictions, weighted in over training."""

    name = "fer"
    Options = FerOptions

    def __init__(self, model: nn.Module, options: FerOptions, context: MethodContext):
        super().__init__(model, options, context)
        if context.num_samples < 1:
            raise PatchswapError("fer needs the training-set size: build it with num_samples > 0")
        self.register_buffer("memory", torch.zeros(context.num_samples, context.num_classes))
        self.register_buffer("learned", torch.zeros(context.num_samples, dtype=torch.bool))
        self.epoch = 1

    def on_epoch_start(self, epoch: int) -> dict[str, float]:
        self.epoch = epoch
        return {}

    @torch.no_grad()
    def remember(self, logits: torch.Tensor, targets: torch.Tensor, index: torch.Tensor) -> None:
        """Move the memory of correctly classified samples towards their current prediction."""
        probs = F.softmax(logits, dim=1)
        correct = probs.argmax(dim=1) == targets
        w = 1.0 - torch.exp(-self.options.mu * probs.gather(1, targets[:, None]))
        soft = F.softmax(logits / self.options.temperature, dim=1)
        old = self.memory[index]
        self.memory[index] = torch.where(correct[:, None], (1.0 - w) * old + w * soft, old)
        self.learned[index] |= correct

    def forward(self, model: nn.Module, batch: Batch) -> StepOutput:
        o = self.options
        logits = model(batch.images)
        z = logits.float()
        index = batch.indices.to(self.memory.device)
        ce = F.cross_entropy(z, batch.targets, reduction="none")
        if self.epoch == 1:
            losses = {"ce": ce.mean(), "memory_ce": z.new_zeros(())}
        else:
            t = o.temperature
            learned = self.learned[index].to(z.dtype)
            memory_ce = t * t * F.cross_entropy(z / t, self.memory[index], reduction="none")
            progress = self.epoch / self.context.epochs
            ce_weight = learned * (o.gamma + (1.0 - progress) * (1.0 - o.gamma)) + (1.0 - learned)
            losses = {
                "ce": (ce_weight * ce).sum() / len(z),
                "memory_ce": (progress * (1.0 - o.gamma) * learned * memory_ce).sum() / len(z),
            }
        self.remember(*all_gather(z.detach(), batch.targets, index))
        return StepOutput(losses, logits, batch.targets)
