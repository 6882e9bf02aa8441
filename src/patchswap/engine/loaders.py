"""Training and test loaders: pair batches for paired methods, shuffled batches otherwise."""

from __future__ import annotations

import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler

from ..pairs import IntraClassPairSampler


class WithIndex(Dataset):
    """Yields `(image, label, index)` so methods with per-sample memory know which sample.

    With `views > 1` the image is a `(views, C, H, W)` stack of independently augmented views.
    """

    def __init__(self, dataset: Dataset, views: int = 1) -> None:
        self.dataset = dataset
        self.views = views

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        image, label = self.dataset[index]
        if self.views > 1:
            image = torch.stack([image] + [self.dataset[index][0] for _ in range(self.views - 1)])
        return image, label, index


class ShuffledBatchSampler(BatchSampler):
    """A `RandomSampler` batched, reshuffled from `(seed, epoch)` so a resumed run sees the
    same order as an uninterrupted one. A final batch of a single image is dropped: batch norm
    cannot train on it."""

    def __init__(self, size: int, batch_size: int, seed: int) -> None:
        self.generator = torch.Generator()
        self.seed = seed
        super().__init__(
            RandomSampler(range(size), generator=self.generator),
            batch_size,
            drop_last=size % batch_size == 1,
        )
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self.seed * 1_000_003 + epoch)


def build_train_loader(
    dataset: Dataset,
    labels: torch.Tensor,
    paired: bool,
    views: int,
    batch_size: int,
    seed: int,
    num_workers: int,
    pin_memory: bool,
) -> DataLoader:
    """Loader whose `batch_sampler` has `set_epoch`; paired batches are anchors then partners."""
    if paired:
        sampler = IntraClassPairSampler(labels, batch_size=batch_size, shuffle=True, seed=seed)
    else:
        sampler = ShuffledBatchSampler(len(dataset), batch_size, seed)
    return DataLoader(
        WithIndex(dataset),
        batch_sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )


def build_eval_loader(
    dataset: Dataset, batch_size: int, num_workers: int, pin_memory: bool
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=pin_memory,
    )
