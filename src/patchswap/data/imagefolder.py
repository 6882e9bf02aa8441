"""ImageFolder trees (`train/<class>/*`, `val/<class>/*`): ImageNet, CUB-200, Stanford Dogs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image
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


def load_rgb(path: str) -> Image.Image:
    """torchvision's PIL loader, but a failure names the file.

    A file whose header reads can still be truncated or corrupt further in; PIL's own error
    mid-epoch would not say which file.
    """
    try:
        with open(path, "rb") as f:
            return Image.open(f).convert("RGB")
    except Exception as err:  # whatever PIL raises on a bad file
        reason = " ".join(str(err).split()) or type(err).__name__
        raise DataError(f"cannot decode image {path} ({reason}); remove or replace it") from err


def _unreadable(path: str) -> bool:
    try:
        with Image.open(path):  # reads the header only
            return False
    except Exception:  # UnidentifiedImageError, or any other failure on a bad header
        return True


def check_image_headers(paths: list[str], root: Path) -> None:
    """Fail naming the first file under `root` that PIL cannot identify, before training.

    A text file saved as `.jpg` fails here instead of mid-epoch. Opening reads only each
    header, in a thread pool (which hides disk latency): 3,000 JPEGs took 0.3-1 s on two busy
    cores with the files cached, so ImageNet's 1.3 million take minutes.
    """
    with ThreadPoolExecutor(max_workers=16) as pool:
        bad = [path for path, failed in zip(paths, pool.map(_unreadable, paths)) if failed]
    if bad:
        raise DataError(
            f"{bad[0]} is not a readable image ({len(bad)} of {len(paths)} files under {root} "
            "are not); remove or replace them"
        )


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
        train = ImageFolder(str(root / "train"), loader=load_rgb)
        test = ImageFolder(str(root / "val"), loader=load_rgb)
    if train.classes != test.classes:
        only = sorted(set(train.classes) ^ set(test.classes))
        raise DataError(
            f"{root}/train and {root}/val must hold the same class folders "
            f"(so labels agree); they differ in {', '.join(only[:5])}"
        )
    check_image_headers([path for path, _ in train.samples + test.samples], root)
    size = cfg.image_size
    return torchvision_source(
        train,
        test,
        where=f"image folders under {root}",
        in_channels=3,
        image_size=(size, size),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        transforms=imagenet_transforms(size),
    )
