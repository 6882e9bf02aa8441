"""DLB (Shen et al. 2022): self-distillation from the last mini-batch.

Follows the official code (Meta-knowledge-Lab/DLB `dlb.py::train_one_epoch`,
`my_dataloader.py`), which differs from the paper's text. Every sample comes with two
augmented views. Step `t` forwards view 0 of the current batch (`out`) and, separately,
view 1 of the previous batch (`out_pre`); the loss is

`CE(cat(out_pre, out), cat(y_pre, y)) + alpha * T^2 KL(softmax(pre_out/T) || softmax(out_pre/T))`

with `pre_out` the previous step's `out`, detached. The very first step is CE on `out` only.
The previous batch (its view-1 images, labels and detached logits) carries over epoch
boundaries, and it is part of this method's state dict, so a resumed run continues exactly
(under `torchrun` each process carries its own shard's batch; checkpoints hold rank 0's).
`T` and `alpha` have no defaults in the code; 3 and 1 are the values reported for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..losses import distillation_kl
from .base import Batch, Method, MethodContext, StepOutput


@dataclass
class DlbOptions:
    temperature: float = 3.0
    alpha: float = 1.0  # weight of the last-batch distillation term

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ConfigError(f"method.temperature={self.temperature} must be > 0 (DLB: 3)")
        if self.alpha < 0:
            raise ConfigError(f"method.alpha={self.alpha} must be >= 0 (DLB: 1)")


class Dlb(Method):
    """DLB: consistency with the last mini-batch's detached predictions (T 3, alpha 1)."""

    name = "dlb"
    views = 2
    Options = DlbOptions

    def __init__(self, model: nn.Module, options: DlbOptions, context: MethodContext):
        super().__init__(model, options, context)
        self.previous: dict[str, torch.Tensor] = {}  # images (view 1), targets, logits

    def get_extra_state(self) -> dict[str, torch.Tensor]:
        return dict(self.previous)

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.previous = dict(state)

    def forward(self, model: nn.Module, batch: Batch) -> StepOutput:
        targets = batch.targets
        out = model(batch.images[:, 0])
        if self.previous:
            prev = {key: value.to(out.device) for key, value in self.previous.items()}
            out_pre = model(prev["images"])
            logits = torch.cat([out_pre, out]).float()
            losses = {
                "ce": F.cross_entropy(logits, torch.cat([prev["targets"], targets])),
                "kd": self.options.alpha
                * distillation_kl(out_pre, prev["logits"], self.options.temperature),
            }
        else:
            losses = {"ce": F.cross_entropy(out.float(), targets), "kd": out.new_zeros(())}
        self.previous = {
            "images": batch.images[:, 1].clone(),
            "targets": targets.clone(),
            "logits": out.detach().clone(),
        }
        return StepOutput(losses, out, targets)
