"""The train and test sets a dense recipe names, with their joint transforms and collation:
the entry of `dense.datasets`, which picks the reader (`voc`, `cityscapes`, `rugd`) a recipe's
`data.name` calls for."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import ConcatDataset, Dataset, Subset
from torchvision import tv_tensors
from torchvision.transforms import v2

from ...errors import ConfigError
from ..config import DenseDataConfig
from .cityscapes import CITYSCAPES_CLASSES, cityscapes_segmentation
from .rugd import RUGD_COARSE_CLASSES, rugd_segmentation
from .voc import (
    IGNORE_INDEX,
    SCENE_CLASSES,
    VOC_CLASSES,
    detection_transforms,
    segmentation_transforms,
    voc_detection,
    voc_segmentation,
)


@dataclass
class DenseData:
    """A dense task's sets: `train` and `test` items are (image, mask) or (image, target)."""

    train: Dataset
    test: Dataset
    classes: tuple[str, ...]  # index = label / mask value; 0 is background for VOC and scenes
    in_channels: int


def _classes(name: str) -> tuple[str, ...]:
    if name == "cityscapes":
        return tuple(CITYSCAPES_CLASSES)
    if name == "rugd":
        return tuple(RUGD_COARSE_CLASSES)
    return SCENE_CLASSES if name == "scenes" else VOC_CLASSES


def _year_and_set(spec: str) -> tuple[str, str]:
    year, _, image_set = spec.partition("/")
    if not image_set or not year.isdigit():
        raise ConfigError(
            f"VOC split {spec!r} must read YEAR/IMAGE_SET, e.g. 2012/train or 2007/test"
        )
    return year, image_set


class _WithoutDifficult:
    """Training targets without `difficult` boxes: VOC detectors are neither rewarded nor
    penalised for them at test time, and ssd.pytorch and mmdetection leave them out of
    training too."""

    def __init__(self, transforms: Callable) -> None:
        self.transforms = transforms

    def __call__(self, image: Any, target: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        keep = ~target["difficult"]
        target = {  # indexing drops the tv_tensor type the transforms dispatch on: wrap again
            "boxes": tv_tensors.wrap(target["boxes"][keep], like=target["boxes"]),
            "labels": target["labels"][keep],
            "difficult": target["difficult"][keep],
        }
        return self.transforms(image, target)


def _transforms(cfg: DenseDataConfig, task: str, train: bool) -> Callable:
    if task == "segmentation":
        joint = segmentation_transforms(train, cfg.size, mean=cfg.mean, std=cfg.std, blur=cfg.blur)
    else:  # the detector resizes to `size` and normalises inside
        joint = detection_transforms(train)
    if cfg.grayscale:
        joint = v2.Compose([v2.Grayscale(1), joint])
    return _WithoutDifficult(joint) if task == "detection" and train else joint


def _one_split(cfg: DenseDataConfig, task: str, split: str, train: bool) -> Dataset:
    transforms = _transforms(cfg, task, train)
    if cfg.name == "cityscapes":
        return cityscapes_segmentation(cfg.root, split, transforms=transforms)
    if cfg.name == "rugd":
        return rugd_segmentation(cfg.root, split, transforms=transforms)
    year, image_set = _year_and_set(split)
    if task == "segmentation":
        return voc_segmentation(
            cfg.root,
            image_set,
            year=year,
            sbd_aug=cfg.sbd_aug and train,
            classes=_classes(cfg.name),
            transforms=transforms,
        )
    return voc_detection(
        cfg.root, image_set, year=year, classes=_classes(cfg.name), transforms=transforms
    )


def build_dense_data(cfg: DenseDataConfig, task: str) -> DenseData:
    """The recipe's training splits (concatenated: VOC07+12) and test split."""
    train = [_one_split(cfg, task, split, True) for split in cfg.train]
    test = _one_split(cfg, task, cfg.test, False)
    if cfg.test_subset is not None:
        test = Subset(test, range(min(cfg.test_subset, len(test))))
    return DenseData(
        train=train[0] if len(train) == 1 else ConcatDataset(train),
        test=test,
        classes=_classes(cfg.name),
        in_channels=1 if cfg.grayscale else 3,
    )


def collate_segmentation(batch: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple:
    """Stack images and masks, padding smaller ones at the bottom right (images with 0, masks
    with void): test images keep their own sizes, and void is never scored."""
    height = max(image.shape[-2] for image, _ in batch)
    width = max(image.shape[-1] for image, _ in batch)

    def pad(x: torch.Tensor, value: float) -> torch.Tensor:
        return F.pad(x, (0, width - x.shape[-1], 0, height - x.shape[-2]), value=value)

    images = torch.stack([pad(image.as_subclass(torch.Tensor), 0.0) for image, _ in batch])
    masks = torch.stack([pad(mask.as_subclass(torch.Tensor), IGNORE_INDEX) for _, mask in batch])
    return images, masks.long()


def collate_detection(batch: Sequence[tuple[torch.Tensor, dict]]) -> tuple:
    """Images of any size and their targets, as lists (torchvision's detectors take lists)."""
    images = [image.as_subclass(torch.Tensor) for image, _ in batch]
    targets = [{k: v.as_subclass(torch.Tensor) for k, v in target.items()} for _, target in batch]
    return images, targets
