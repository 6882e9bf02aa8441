"""The method plug-in point: how one training step turns a batch into named losses.

A method owns whatever extra state it needs (buffers, auxiliary heads, memories) as an
`nn.Module`; its parameters are optimized with the model's and its `state_dict` is saved in
checkpoints. The trainer sums the returned losses and never needs to know which method runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn


@dataclass
class Batch:
    """One training batch. For paired methods the first half are anchors, the second partners."""

    images: torch.Tensor  # (N, C, H, W); (N, V, C, H, W) when the method asks for V > 1 views
    targets: torch.Tensor
    indices: torch.Tensor  # dataset indices of the samples (memory-based methods need them)


@dataclass
class StepOutput:
    """Weighted losses (summed by the trainer) and the logits/targets for train accuracy."""

    losses: dict[str, torch.Tensor]
    logits: torch.Tensor
    targets: torch.Tensor


@dataclass
class MethodContext:
    """What a method may need to know about the run when it is built."""

    num_classes: int
    epochs: int
    image_size: tuple[int, int]
    in_channels: int
    num_samples: int = 0  # training-set size (per-sample memories index it by dataset index)
    train_labels: torch.Tensor | None = None  # label of every training sample, by index


@dataclass
class NoOptions:
    """For methods without options."""


class Method(nn.Module):
    """Base class. Subclasses set `name`, `Options` (a dataclass) and implement `forward`."""

    name: ClassVar[str]
    paired: ClassVar[bool] = False  # batches come from `IntraClassPairSampler`
    views: ClassVar[int] = 1  # independently augmented views of every sample (DDGSD, DLB: 2)
    Options: ClassVar[type] = NoOptions

    def __init__(self, model: nn.Module, options: Any, context: MethodContext) -> None:
        super().__init__()
        self.options = options
        self.context = context

    def on_epoch_start(self, epoch: int) -> dict[str, float]:
        """Called before each (1-based) epoch; returns scalars to log, e.g. the current `p_r`."""
        return {}

    def forward(self, model: nn.Module, batch: Batch) -> StepOutput:  # pragma: no cover
        raise NotImplementedError
