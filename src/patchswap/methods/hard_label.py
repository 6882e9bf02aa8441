"""Hard label: plain cross-entropy on single images, the paper's baseline."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from .base import Batch, Method, StepOutput


class HardLabel(Method):
    """Cross-entropy with one-hot labels; batches of `batch_size` images, no pairs."""

    name = "hard_label"

    def forward(self, model: nn.Module, batch: Batch) -> StepOutput:
        logits = model(batch.images)
        loss = F.cross_entropy(logits.float(), batch.targets)
        return StepOutput({"ce": loss}, logits, batch.targets)
