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

from . import validate as check
from .errors import PatchswapError


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
    device = generator.device if generator is not None else labels.device
    keys = torch.rand(n, generator=generator, device=device).to(labels.device)
    shuffled = torch.argsort(keys)
    grouped = shuffled[torch.argsort(labels[shuffled], stable=True)]  # by label, random inside
    _, counts = torch.unique_consecutive(labels[grouped], return_counts=True)
    starts = (torch.cumsum(counts, 0) - counts).repeat_interleave(counts)
    sizes = counts.repeat_interleave(counts)
    slot = torch.arange(n, device=labels.device) - starts
    partners = torch.empty_like(grouped)
    partners[grouped] = grouped[starts + (slot + 1) % sizes]
    alone = torch.empty(n, dtype=torch.bool, device=labels.device)
    alone[grouped] = sizes == 1
    return partners, alone


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
