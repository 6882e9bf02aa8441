"""Training and test loaders: pair batches for paired methods, shuffled batches otherwise."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from ..config import RunConfig
from ..data import DataBundle
from ..errors import ConfigError
from ..pairs import IntraClassPairSampler, MatchedPairSampler
from .device_data import DeviceAugment, DeviceEvalLoader, DeviceLoader
from .distributed import DistEnv


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


class ShuffledBatchSampler:
    """Shuffled batches of indices, reshuffled from `(seed, epoch)` so a resumed run sees the
    same order as an uninterrupted one, and sharded across `num_replicas` processes the way
    `IntraClassPairSampler` shards anchors. A final batch of a single image is dropped: batch
    norm cannot train on it."""

    def __init__(
        self, size: int, batch_size: int, seed: int, num_replicas: int = 1, rank: int = 0
    ) -> None:
        self.size = size
        self.batch_size = batch_size
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.num_samples = math.ceil(size / num_replicas)
        self.drop_last = self.num_samples % batch_size == 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples // self.batch_size + (
            0 if self.drop_last else int(self.num_samples % self.batch_size > 0)
        )

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.size, generator=generator)
        total = self.num_samples * self.num_replicas
        order = torch.cat([order, order[: total - self.size]])[
            self.rank : total : self.num_replicas
        ]
        for batch in range(len(self)):
            yield order[batch * self.batch_size : (batch + 1) * self.batch_size].tolist()


def train_sampler(
    labels: torch.Tensor,
    paired: bool,
    batch_size: int,
    seed: int,
    num_replicas: int,
    rank: int,
    matched: bool = False,
) -> IntraClassPairSampler | MatchedPairSampler | ShuffledBatchSampler:
    """Pair batches (anchors then partners) for paired methods, shuffled batches otherwise;
    `matched`: `batch_size` images as disjoint pairs instead of `batch_size` anchors."""
    if paired and matched:
        if batch_size % 2:
            raise ConfigError(
                f"batch_size per process {batch_size} must be even with method.pairs=matched "
                "(batch_size / 2 pairs per step); set an even batch_size"
            )
        return MatchedPairSampler(labels, batch_size, seed, num_replicas, rank)
    if paired:
        return IntraClassPairSampler(
            labels,
            batch_size=batch_size,
            shuffle=True,
            seed=seed,
            num_replicas=num_replicas,
            rank=rank,
        )
    return ShuffledBatchSampler(len(labels), batch_size, seed, num_replicas, rank)


def build_loaders(
    cfg: RunConfig,
    data: DataBundle,
    paired: bool,
    views: int,
    env: DistEnv,
    device: torch.device,
    matched: bool = False,
) -> tuple[Iterable, Iterable, str]:
    """`(train_loader, eval_loader, kind)` for this process; kind is `device` or `dataloader`.

    `data.loader: auto` takes the device-resident path whenever the dataset is in memory, on
    CPU as on CUDA: batched uint8 gathers and tensor crops beat per-sample PIL work on both
    (`benchmarks/cpu_path.py`, `benchmarks/data_path.py`).

    Each process trains on its shard of every global batch (`batch_size / world_size` anchors)
    and evaluates its shard of the test set; the trainer sums the metrics over processes.
    """
    per_process = cfg.batch_size // env.world_size
    sampler = train_sampler(
        data.train_labels, paired, per_process, cfg.seed, env.world_size, env.rank, matched
    )
    test_shard = range(env.rank, len(data.test), env.world_size)
    memory = None if cfg.data.loader == "dataloader" else data.in_memory
    if cfg.data.loader == "device" and memory is None:
        raise ConfigError(
            f"data.loader=device needs an in-memory dataset (cifar10, cifar100, fashion_mnist), "
            f"not {cfg.data.name!r}; use data.loader=dataloader"
        )
    if memory is not None:
        index = torch.as_tensor(test_shard, dtype=torch.long)
        augment = DeviceAugment(data.mean, data.std, memory.augmentation)
        train = DeviceLoader(
            memory.train.contiguous().to(device),
            data.train_labels.to(device),
            sampler,
            augment,
            views,
        )
        test = DeviceEvalLoader(
            memory.test[index].contiguous().to(device),
            data.test_labels[index].to(device),
            augment,
            cfg.eval_batch_size,
        )
        return train, test, "device"
    pin = device.type == "cuda"
    workers = cfg.data.num_workers
    train = DataLoader(
        WithIndex(data.train, views),
        batch_sampler=sampler,
        num_workers=workers,
        pin_memory=pin,
        persistent_workers=workers > 0,
    )
    test = build_eval_loader(Subset(data.test, test_shard), cfg.eval_batch_size, workers, pin)
    return train, test, "dataloader"


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
