"""The two records of the data layer: what a dataset loader finds, and what a run receives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from ..errors import DataError
from .label_noise import LabelNoise
from .transforms import Augmentation


@dataclass
class InMemory:
    """A dataset held in memory, as the device-resident data path runs it: uint8 images
    `(N, C, H, W)` of each split (row `i` is item `i` of that split) and the augmentation of
    its training transform. Views of the loader's own arrays, not copies."""

    train: torch.Tensor
    test: torch.Tensor
    augmentation: Augmentation

    def select(self, train_rows: torch.Tensor | None, test_count: int, augment: bool) -> InMemory:
        """The rows a run uses (`train_rows` None: all), and no augmentation unless `augment`."""
        return InMemory(
            self.train if train_rows is None else self.train[train_rows],
            self.test[:test_count],
            self.augmentation if augment else Augmentation(),
        )


@dataclass
class DataSource:
    """One dataset as found on disk, before transforms and subsets.

    Loaders return this so that `build_datasets` applies augmentation, subsets and label
    bookkeeping the same way for every dataset. `train` and `test` yield `(PIL image, int label)`.
    A dataset small enough to hold in memory declares its pixels and augmentation in
    `in_memory`, which lets runs take the device data path.
    """

    train: Dataset
    test: Dataset
    train_labels: torch.Tensor
    test_labels: torch.Tensor
    class_names: list[str]
    in_channels: int
    image_size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_transform: Callable  # training augmentation, ending in ToTensor + Normalize
    test_transform: Callable  # deterministic test-time transform
    in_memory: InMemory | None = None  # None: image files, the DataLoader path only


@dataclass
class DataBundle:
    """Everything a run needs from the data: the three splits and their metadata.

    `train_eval` holds the same samples as `train` in the same order, with the test-time
    transform, so train-accuracy analyses see un-augmented images.
    """

    train: Dataset  # (normalized CxHxW float tensor, augmented if cfg.augment; int label)
    train_eval: Dataset  # same samples and order as train, test-time transform
    test: Dataset  # (image tensor, int label), test-time transform
    train_labels: torch.Tensor  # int64, train_labels[i] is the label of train[i]
    test_labels: torch.Tensor  # int64, test_labels[i] is the label of test[i]
    num_classes: int
    in_channels: int
    image_size: tuple[int, int]  # (H, W) the model sees
    class_names: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    label_noise: LabelNoise | None = None  # the flips behind noisy train_labels, if any
    # data.holdout_per_class training images never trained on (test-time transform, true
    # labels), for post-hoc calibration; None without a held-out split
    holdout: Dataset | None = None
    # the pixels of train and test (same rows, same order) and the augmentation `train`
    # applies, for the device data path; None when the dataset is not held in memory
    in_memory: InMemory | None = None


def torchvision_source(
    train: Dataset,
    test: Dataset,
    *,
    where: str,
    in_channels: int,
    image_size: tuple[int, int],
    mean: tuple[float, ...],
    std: tuple[float, ...],
    transforms: tuple[Callable, Callable],
    in_memory: InMemory | None = None,
) -> DataSource:
    """DataSource of two torchvision datasets, which expose `targets` and `classes`.

    Checks that each split has one label per image, each naming a class: files that disagree
    (say 10,000 labels for 60,000 images) would otherwise train to chance or crash mid-epoch.
    `where` names the dataset's files in the error.
    """
    num_classes = len(train.classes)
    labels_of = {}
    for split, dataset in (("training", train), ("test", test)):
        labels = labels_of[split] = torch.as_tensor(dataset.targets, dtype=torch.int64)
        if len(labels) != len(dataset):
            raise DataError(
                f"{where}: the {split} split has {len(dataset)} images but {len(labels)} labels; "
                "replace its files with a matching set"
            )
        if len(labels) and not 0 <= labels.min() <= labels.max() < num_classes:
            raise DataError(
                f"{where}: the {split} split has labels outside 0..{num_classes - 1} "
                f"(min {labels.min()}, max {labels.max()}); replace its files with valid ones"
            )
    return DataSource(
        train=train,
        test=test,
        train_labels=labels_of["training"],
        test_labels=labels_of["test"],
        class_names=list(train.classes),
        in_channels=in_channels,
        image_size=image_size,
        mean=mean,
        std=std,
        train_transform=transforms[0],
        test_transform=transforms[1],
        in_memory=in_memory,
    )
