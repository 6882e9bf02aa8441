"""Per-sample image transforms, and a dataset view that applies one.

Transforms work on PIL images with torchvision: fast enough for in-memory 32x32 / 28x28 data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch.utils.data import Dataset
from torchvision import transforms as T

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _to_normalized_tensor(mean: Sequence[float], std: Sequence[float]) -> list[Callable]:
    return [T.ToTensor(), T.Normalize(mean, std)]


@dataclass(frozen=True)
class Augmentation:
    """The training augmentation of a small in-memory dataset, as data (airbench's loader
    takes the same as its `aug` dict): a random crop of the image zero-padded by
    `crop_padding` pixels a side (0: none) and, with `flip`, a horizontal flip with
    probability 1/2. Both data paths are built from it (`small_image_transforms` for the
    DataLoader, `engine.device_data.DeviceAugment` on the device), so a dataset that must not
    be flipped is flipped on neither."""

    crop_padding: int = 0
    flip: bool = False


def small_image_transforms(
    size: int, mean: Sequence[float], std: Sequence[float], augmentation: Augmentation
) -> tuple[Callable, Callable]:
    """(train, test) transforms of the CIFAR recipe: padded random crop (+ horizontal flip)."""
    normalize = _to_normalized_tensor(mean, std)
    flip = [T.RandomHorizontalFlip()] if augmentation.flip else []
    train = T.Compose([T.RandomCrop(size, padding=augmentation.crop_padding), *flip, *normalize])
    return train, T.Compose(normalize)


def imagenet_transforms(size: int) -> tuple[Callable, Callable]:
    """(train, test) transforms of the ImageNet recipe at `size`; test resizes by 256/224."""
    normalize = _to_normalized_tensor(IMAGENET_MEAN, IMAGENET_STD)
    train = T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip(), *normalize])
    test = T.Compose([T.Resize(round(size * 256 / 224)), T.CenterCrop(size), *normalize])
    return train, test


class TransformedDataset(Dataset):
    """`base` with `transform` applied to each image.

    A view rather than a copy, so `train` and `train_eval` share one in-memory dataset and
    differ only in their transform.
    """

    def __init__(self, base: Dataset, transform: Callable) -> None:
        self.base = base
        self.transform = transform

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image, label = self.base[index]
        return self.transform(image), int(label)
