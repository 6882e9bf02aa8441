"""ImageFolder trees (`train/<class>/*`, `val/<class>/*`): ImageNet, CUB-200, Stanford Dogs."""

from __future__ import annotations

from pathlib import Path

from torchvision.datasets import ImageFolder

from ..config import DataConfig
from ..errors import DataError
from .bundle import DataSource, torchvision_source
from .files import data_errors
from .transforms import IMAGENET_MEAN, IMAGENET_STD, imagenet_transforms

DESCRIPTION = (
    "ImageFolder tree: data.root with train/<class>/<image> and val/<class>/<image> "
    "(ImageNet, CUB-200, Stanford Dogs prepared that way); ImageNet transforms at data.image_size"
)


def _layout(root: Path) -> str:
    return f"expected {root}/train/<class>/<image> and {root}/val/<class>/<image>"


def load_imagefolder(cfg: DataConfig) -> DataSource:
    """Both splits of an ImageFolder tree, with the same class indices in train and val."""
    if cfg.root is None:
        raise DataError(
            "dataset imagefolder needs data.root=<folder with train/ and val/ class folders>"
        )
    root = Path(cfg.root).expanduser().absolute()
    for split in ("train", "val"):
        if not (root / split).is_dir():
            raise DataError(f"{root / split} does not exist: {_layout(root)}")
    with data_errors(f"cannot read image folders under {root}", _layout(root)):
        train = ImageFolder(str(root / "train"))
        test = ImageFolder(str(root / "val"))
    if train.classes != test.classes:
        only = sorted(set(train.classes) ^ set(test.classes))
        raise DataError(
            f"{root}/train and {root}/val must hold the same class folders "
            f"(so labels agree); they differ in {', '.join(only[:5])}"
        )
    size = cfg.image_size
    return torchvision_source(
        train,
        test,
        in_channels=3,
        image_size=(size, size),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        transforms=imagenet_transforms(size),
    )
