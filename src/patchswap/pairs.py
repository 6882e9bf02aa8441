"""Intra-class pair sampling: every anchor gets a same-class partner from the whole training set.

`IntraClassPairSampler` is a batch sampler: `DataLoader(ds, batch_sampler=sampler)` yields
batches of `2 * b` samples, the `b` anchors first and then their partners in the same order,
so `x[:b]` and `x[b:]` are the pairs `(B_a, B_b)` of the paper. Each sample goes through the
dataset's own (random) transform, so the two views of a pair are augmented independently.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from .errors import PatchswapError


def _as_label_tensor(labels: Sequence[int] | np.ndarray | torch.Tensor) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(labels) if not torch.is_tensor(labels) else labels)
    if tensor.dim() != 1 or tensor.numel() == 0:
        raise PatchswapError(
            f"labels must be a non-empty 1-D sequence of class ids, got shape {tuple(tensor.shape)}"
        )
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise PatchswapError(f"labels must be integers, got dtype {tensor.dtype}")
    return tensor.to(torch.int64).cpu()


class IntraClassPairSampler(torch.utils.data.Sampler[list[int]]):
    """Batches of anchors followed by same-label partners (`j != i` when the class allows).

    Args:
        labels: the training label of every dataset index (list, array or tensor).
        batch_size: anchors per batch (a batch holds `2 * batch_size` indices).
        shuffle: visit anchors in a random order each epoch.
        drop_last: drop the last incomplete batch of anchors.
        seed: base seed; epoch `e` uses a generator seeded from `(seed, e)`.
        num_replicas, rank: shard anchors across distributed processes; every anchor is used
            exactly once per epoch across ranks (the last ones are repeated to even out the
            shards, as `DistributedSampler` does) and partners come from the whole set.

    `len()` is the number of batches per epoch on this rank. Call `set_epoch(e)` before each
    epoch to reshuffle reproducibly.
    """

    def __init__(
        self,
        labels: Sequence[int] | np.ndarray | torch.Tensor,
        batch_size: int = 64,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        self.labels = _as_label_tensor(labels)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise PatchswapError(f"batch_size={batch_size!r} must be a positive integer")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise PatchswapError(
                f"rank={rank} must be in [0, num_replicas={num_replicas}) with num_replicas >= 1"
            )
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0

        # Indices grouped by class: class c occupies order[start[c] : start[c] + count[c]].
        self._order = torch.argsort(self.labels, stable=True)
        classes, counts = torch.unique_consecutive(self.labels[self._order], return_counts=True)
        starts = torch.cumsum(counts, 0) - counts
        position = torch.empty_like(self._order)
        position[self._order] = torch.arange(len(self._order))
        self._start = starts.repeat_interleave(counts)[position]  # per index: its class start
        self._count = counts.repeat_interleave(counts)[position]  # per index: its class size
        self._rank_in_class = position - self._start  # per index: its slot inside the class
        singletons = classes[counts == 1].tolist()
        if singletons:
            warnings.warn(
                f"classes {singletons} have a single training sample; those samples are paired "
                f"with themselves",
                stacklevel=2,
            )
        self.num_samples = math.ceil(len(self.labels) / num_replicas)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose anchor order and partners the next iteration yields."""
        self.epoch = epoch

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def _generator(self) -> torch.Generator:
        generator = torch.Generator()
        generator.manual_seed(self.seed * 1_000_003 + self.epoch)
        return generator

    def partners(self, anchors: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A uniformly drawn same-class partner `j != i` for every anchor index `i`."""
        count = self._count[anchors]
        # Draw a slot among the other count-1 members, then skip over the anchor's own slot.
        draw = torch.rand(len(anchors), generator=generator, dtype=torch.float64)
        slot = torch.minimum((draw * (count - 1)).long(), (count - 2).clamp(min=0))
        slot = slot + (slot >= self._rank_in_class[anchors]).long()
        slot = torch.where(count > 1, slot, self._rank_in_class[anchors])
        return self._order[self._start[anchors] + slot]

    def __iter__(self) -> Iterator[list[int]]:
        generator = self._generator()
        n = len(self.labels)
        anchors = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        partners = self.partners(anchors, generator)
        total = self.num_samples * self.num_replicas
        if total > n:  # pad by repeating the first anchors so every rank has equal work
            extra = torch.arange(total - n) % n
            anchors, partners = (
                torch.cat([anchors, anchors[extra]]),
                torch.cat([partners, partners[extra]]),
            )
        anchors = anchors[self.rank : total : self.num_replicas]
        partners = partners[self.rank : total : self.num_replicas]
        for batch in range(len(self)):
            sl = slice(batch * self.batch_size, (batch + 1) * self.batch_size)
            yield anchors[sl].tolist() + partners[sl].tolist()
