"""Intra-class pair sampling: every anchor gets a same-class partner from the whole training set.

`IntraClassPairSampler` is a batch sampler: `DataLoader(ds, batch_sampler=sampler)` yields
batches of `2 * b` samples, the `b` anchors first and then their partners in the same order,
so `x[:b]` and `x[b:]` are the pairs `(B_a, B_b)` of the paper. Each sample goes through the
dataset's own (random) transform, so the two views of a pair are augmented independently.

Matched pairs cost what hard label costs: `MatchedPairSampler` splits every class into random
disjoint pairs each epoch, so a batch of `b` images holds `b / 2` pairs and every training
image is forwarded once per epoch; `matched_pairs` does the same inside an ordinary batch.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from .errors import PatchswapError
from .infra import argument_checks as check


def _as_label_tensor(labels: Sequence[int] | np.ndarray | torch.Tensor) -> torch.Tensor:
    """`labels` as a CPU int64 tensor, or a one-line error naming what is wrong with them."""
    if torch.is_tensor(labels):
        integral = check.is_integer_dtype(labels.dtype)
    else:
        try:
            labels = np.asarray(labels)
        except (TypeError, ValueError):  # ragged nesting, unconvertible objects
            raise check.fail("labels", labels, "a 1-D sequence of integer class ids") from None
        integral = labels.dtype.kind in "iu"
    if labels.ndim != 1 or len(labels) == 0:
        raise PatchswapError(
            f"labels must be a non-empty 1-D sequence of class ids, got shape {tuple(labels.shape)}"
        )
    if not integral:
        raise PatchswapError(
            f"labels must be integers (class ids), got dtype {labels.dtype} "
            f"(first label {check.show(labels[0].item())}); map class names to ids 0..K-1"
        )
    return torch.as_tensor(labels).to(torch.int64).cpu()


def in_batch_partners(
    labels: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A same-label partner inside an ordinary batch, for pipelines that own their loader.

    Returns `(partners, alone)`: `labels[partners[i]] == labels[i]` for every `i`, with
    `partners[i] != i` whenever the class of `i` has two or more members in the batch; `alone`
    marks the samples whose class has no other member there. Those are paired with themselves
    and train on cross-entropy only (`SelfDistillationLoss.components(..., paired=~alone)`
    leaves them out of the KL terms). Vectorized: the batch is put in a random order, grouped
    by label, and each sample is paired with the next one of its group (cyclically), so each
    partner is uniform among the other members of the class. `generator` (on any device) makes
    the draw reproducible; the result is on the labels' device.

    How many are alone depends on classes per batch: with uniform classes a sample is alone
    with probability `(1 - 1/C)^(B-1)`, e.g. 53% for C=100, B=64 (`benchmarks/alone_in_batch.py`).
    """
    check.tensor("labels", labels, 1, "(N,)")
    if not check.is_integer_dtype(labels.dtype):
        raise PatchswapError(f"labels has dtype {labels.dtype}; pass integer class ids (N,)")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise check.fail("generator", generator, "a torch.Generator or None")
    n = len(labels)
    grouped, slot, sizes, starts = _grouped(labels, generator)
    partners = torch.empty_like(grouped)
    partners[grouped] = grouped[starts + (slot + 1) % sizes]
    alone = torch.empty(n, dtype=torch.bool, device=labels.device)
    alone[grouped] = sizes == 1
    return partners, alone


def _grouped(labels: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, ...]:
    """The indices in a random order grouped by label, and per position its slot in its group
    and its group's size."""
    n = len(labels)
    device = generator.device if generator is not None else labels.device
    keys = torch.rand(n, generator=generator, device=device).to(labels.device)
    shuffled = torch.argsort(keys)
    grouped = shuffled[torch.argsort(labels[shuffled], stable=True)]  # by label, random inside
    _, counts = torch.unique_consecutive(labels[grouped], return_counts=True)
    starts = (torch.cumsum(counts, 0) - counts).repeat_interleave(counts)
    sizes = counts.repeat_interleave(counts)
    slot = torch.arange(n, device=labels.device) - starts
    return grouped, slot, sizes, starts


def matched_pairs(
    labels: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Disjoint same-label pairs inside a batch: `(anchors, partners, alone)` index tensors.

    Each class's members are put in a random order and paired two by two, so no sample is in
    two pairs and none is paired with itself; the odd one out of a class with an odd count (or
    a class alone in the batch) is returned in `alone` and trains on cross-entropy only. Every
    index appears exactly once in `anchors`, `partners` or `alone`.
    """
    check.tensor("labels", labels, 1, "(N,)")
    if not check.is_integer_dtype(labels.dtype):
        raise PatchswapError(f"labels has dtype {labels.dtype}; pass integer class ids (N,)")
    grouped, slot, sizes, _ = _grouped(labels, generator)
    first = (slot % 2 == 0) & (slot + 1 < sizes)
    where = torch.nonzero(first).flatten()
    alone = grouped[(slot % 2 == 0) & (slot + 1 == sizes)]
    return grouped[where], grouped[where + 1], alone


class _ClassTables:
    """Indices grouped by class: class c occupies `order[start : start + count]`; per index,
    its class's start and size and its slot inside the class."""

    def __init__(self, labels: torch.Tensor) -> None:
        self.order = torch.argsort(labels, stable=True)
        self.classes, counts = torch.unique_consecutive(labels[self.order], return_counts=True)
        self.counts = counts
        starts = torch.cumsum(counts, 0) - counts
        position = torch.empty_like(self.order)
        position[self.order] = torch.arange(len(self.order))
        self.start = starts.repeat_interleave(counts)[position]
        self.count = counts.repeat_interleave(counts)[position]
        self.rank_in_class = position - self.start

    def classmates(self, anchors: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A uniformly drawn same-class partner `j != i` for every anchor index `i` (itself
        when its class has no other member)."""
        count = self.count[anchors]
        # Draw a slot among the other count-1 members, then skip over the anchor's own slot.
        draw = torch.rand(len(anchors), generator=generator, dtype=torch.float64)
        slot = torch.minimum((draw * (count - 1)).long(), (count - 2).clamp(min=0))
        slot = slot + (slot >= self.rank_in_class[anchors]).long()
        slot = torch.where(count > 1, slot, self.rank_in_class[anchors])
        return self.order[self.start[anchors] + slot]


class IntraClassPairSampler(torch.utils.data.Sampler[list[int]]):
    """Batches of anchors followed by same-label partners (`j != i` when the class allows).

    Args:
        labels: the training label of every dataset index (list, array or tensor).
        batch_size: anchors per batch (a batch holds `2 * batch_size` indices).
        shuffle: visit anchors in a random order each epoch.
        drop_last: drop the last incomplete batch of anchors.
        seed: base seed; epoch `e` uses a generator seeded from `(seed, e)`.
        num_replicas: shard anchors across this many distributed processes; every anchor is
            used exactly once per epoch across ranks (the last ones are repeated to even out
            the shards, as `DistributedSampler` does) and partners come from the whole set.
        rank: this process's shard, in `[0, num_replicas)`.

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
        self.batch_size = check.integer("batch_size", batch_size, 1, " (anchors per batch)")
        self.num_replicas = check.integer("num_replicas", num_replicas, 1)
        self.rank = check.integer("rank", rank, 0)
        if rank >= num_replicas:
            raise check.fail("rank", rank, f"in [0, num_replicas={num_replicas})")
        self.shuffle = check.flag("shuffle", shuffle)
        self.drop_last = check.flag("drop_last", drop_last)
        self.seed = check.integer("seed", seed)
        self.epoch = 0

        self._tables = _ClassTables(self.labels)
        singletons = self._tables.classes[self._tables.counts == 1].tolist()
        if singletons:
            warnings.warn(
                f"classes {singletons} have a single training sample; those samples are paired "
                f"with themselves",
                stacklevel=2,
            )
        self.num_samples = math.ceil(len(self.labels) / num_replicas)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose anchor order and partners the next iteration yields."""
        self.epoch = check.integer("epoch", epoch, 0)

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
        return self._tables.classmates(anchors, generator)

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


class MatchedPairSampler(torch.utils.data.Sampler[list[int]]):
    """Batches of `batch_size` images as `batch_size / 2` disjoint same-class pairs, anchors
    first and then their partners, with every training image in one pair per epoch.

    Each epoch every class is split into random disjoint pairs and the pairs are shuffled, so
    a run takes the steps and forwards the images of hard label at the same batch size. A class
    with an odd count pairs its odd one out with a random other member, which is thus forwarded
    a second time (at most one extra image per class and epoch; a class of one sample pairs it
    with itself). With `num_replicas` processes the pairs are sharded as `DistributedSampler`
    shards samples (the first pairs repeated to even out the shards).

    Args:
        labels: the training label of every dataset index.
        batch_size: images per batch, even (`batch_size / 2` pairs).
        seed: base seed; epoch `e` draws its pairs from a generator seeded from `(seed, e)`.
        num_replicas: shard the pairs across this many distributed processes.
        rank: this process's shard, in `[0, num_replicas)`.
    """

    def __init__(
        self,
        labels: Sequence[int] | np.ndarray | torch.Tensor,
        batch_size: int = 128,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        self.labels = _as_label_tensor(labels)
        self.batch_size = check.integer("batch_size", batch_size, 2, " (images per batch)")
        if batch_size % 2:
            raise PatchswapError(
                f"batch_size={batch_size} must be even with matched pairs (batch_size / 2 pairs "
                "of images per step)"
            )
        self.num_replicas = check.integer("num_replicas", num_replicas, 1)
        self.rank = check.integer("rank", rank, 0)
        if rank >= num_replicas:
            raise check.fail("rank", rank, f"in [0, num_replicas={num_replicas})")
        self.seed = check.integer("seed", seed)
        self.epoch = 0
        self._tables = _ClassTables(self.labels)
        counts = torch.bincount(self.labels)
        self.num_pairs = int(((counts + 1) // 2).sum())  # odd classes: one pair more
        self.pairs_per_rank = math.ceil(self.num_pairs / num_replicas)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = check.integer("epoch", epoch, 0)

    def __len__(self) -> int:
        return math.ceil(self.pairs_per_rank / (self.batch_size // 2))

    def pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This epoch's `(anchors, partners)` over the whole set, in a random pair order."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        anchors, partners, alone = matched_pairs(self.labels, generator)
        if len(alone):  # the odd one out of each odd class: a uniformly drawn classmate
            mates = self._tables.classmates(alone, generator)
            anchors, partners = torch.cat([anchors, alone]), torch.cat([partners, mates])
        shuffle = torch.randperm(len(anchors), generator=generator)
        return anchors[shuffle], partners[shuffle]

    def __iter__(self) -> Iterator[list[int]]:
        anchors, partners = self.pairs()
        total = self.pairs_per_rank * self.num_replicas
        if total > len(anchors):
            extra = torch.arange(total - len(anchors)) % len(anchors)
            anchors, partners = torch.cat([anchors, anchors[extra]]), torch.cat(
                [partners, partners[extra]]
            )
        anchors = anchors[self.rank : total : self.num_replicas]
        partners = partners[self.rank : total : self.num_replicas]
        per_batch = self.batch_size // 2
        for batch in range(len(self)):
            sl = slice(batch * per_batch, (batch + 1) * per_batch)
            yield anchors[sl].tolist() + partners[sl].tolist()
