"""The method plug-in point: how one training step turns a batch into named losses.

A method owns whatever extra state it needs (buffers, auxiliary heads, memories) as an
`nn.Module`; its parameters are optimized with the model's and its `state_dict` is saved in
checkpoints. The trainer sums the returned losses and never needs to know which method runs.

The contract, everything the trainer relies on:

- **Class attributes.** `name` (the registry key, `method: {name: ...}` in a recipe),
  `Options` (a dataclass: the recipe's other `method.*` keys, checked against its fields),
  `paired` (batches from `IntraClassPairSampler`: `B` anchors, then their `B` same-class
  partners; may be set per instance in `__init__`), `matched` (with `paired`: batches from
  `MatchedPairSampler` instead, `B` images as `B / 2` disjoint pairs, anchors then partners,
  each image once per epoch), `views` (`V > 1`: every sample arrives as
  `V` independently augmented views, images `(N, V, C, H, W)`).
- **`__init__(model, options, context)`** builds the state; the model is the plain network
  (features are tapped with hooks, `methods.features`, never by changing it).
- **`on_epoch_start(epoch)`** runs before every epoch (1-based, also after a resume); the
  scalars it returns are logged in `metrics.jsonl` and printed on the epoch's line.
- **`forward(model, batch) -> StepOutput`**, in train mode under the run's autocast: `model`
  may be wrapped (DDP, compile), so call it, do not reach into it. The trainer backpropagates
  the sum of `StepOutput.losses`; their epoch means (weighted by `StepOutput.samples`) are
  logged as `train_<name>`. Train accuracy counts `logits` rows against `targets`. A method
  that trains on pairs returns their logits in `StepOutput.pairs` (`log_analysis` reads them).
- **State.** Buffers, parameters and `get_extra_state` go into every checkpoint; loading it
  must continue the run exactly (same next step).

A method defined outside this package is registered with `register_method` (a class
decorator); methods of this package are found by `patchswap.methods` itself.
`tests/methods/test_contract.py` checks the contract on every registered method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn


@dataclass
class Batch:
    """One training batch. For paired methods the first half are anchors, the second partners."""

    images: torch.Tensor  # (N, C, H, W); (N, V, C, H, W) when the method asks for V > 1 views
    targets: torch.Tensor
    indices: torch.Tensor  # dataset indices of the samples (memory-based methods need them)


class PairLogits(NamedTuple):
    """The logits of a step's pairs: row `i` of `anchors` and of `partners` is one pair, both
    of class `targets[i]`. The trainer's `log_analysis` reads them (Figure 5's KD gradient and
    confidence gap)."""

    anchors: torch.Tensor
    partners: torch.Tensor
    targets: torch.Tensor


@dataclass
class StepOutput:
    """What one step hands the trainer.

    `losses`: the weighted terms; their sum is backpropagated. `logits` / `targets`: the rows
    train accuracy counts (any number; e.g. both halves of a pair batch). `samples`: how many
    training samples the losses average over (the anchors of a pair batch), the step's weight
    in the epoch's mean loss; None means one per row of `targets`. `pairs`: the step's pair
    logits, for methods that train on pairs; None otherwise.
    """

    losses: dict[str, torch.Tensor]
    logits: torch.Tensor
    targets: torch.Tensor
    samples: int | None = None
    pairs: PairLogits | None = None

    @property
    def weight(self) -> int:
        """The step's weight in the epoch's mean loss (`samples`, else the rows of `targets`)."""
        return len(self.targets) if self.samples is None else self.samples


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
    """Base class. Subclasses set `name`, `Options` (a dataclass) and implement `forward`, as
    the module's contract says."""

    name: ClassVar[str]
    paired: ClassVar[bool] = False  # batches come from `IntraClassPairSampler`
    matched: ClassVar[bool] = False  # paired batches are disjoint pairs (`MatchedPairSampler`)
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
