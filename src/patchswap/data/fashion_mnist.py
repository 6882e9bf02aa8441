"""Fashion-MNIST from a folder of the four idx `.gz` files, torchvision's layout, or a download.

Root resolution: `data.root`; else the Debian package `dataset-fashion-mnist`
(/usr/share/datasets/fashion-mnist); else an earlier download in ./data; else a torchvision
download into ./data when `data.download=true`. Flat `.gz` files are decompressed once into the
cache and read by torchvision's `FashionMNIST`, so no idx parser lives here.
"""

from __future__ import annotations

import json
from pathlib import Path

from torchvision.datasets import FashionMNIST

from ..config import DataConfig
from ..errors import DataError
from .bundle import DataSource, torchvision_source
from .files import atomic_gunzip, atomic_write_text, cache_dir, data_errors
from .transforms import small_image_transforms

DEBIAN_ROOT = Path("/usr/share/datasets/fashion-mnist")
DOWNLOAD_ROOT = Path("data")
GZ_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
MEAN = (0.2860,)
STD = (0.3530,)
FIXES = (
    "apt-get install dataset-fashion-mnist, or data.root=<folder with the four .gz files>, "
    "or data.download=true (needs network)"
)
DESCRIPTION = (
    "Fashion-MNIST: 10 classes, 28x28 grayscale; data.root (the four idx .gz files or "
    f"torchvision's FashionMNIST/raw/), else {DEBIAN_ROOT} (apt-get install "
    f"dataset-fashion-mnist), else data.download=true into ./{DOWNLOAD_ROOT}"
)


def _source_stamp(path: Path) -> list:
    """What identifies a source file, to notice when the cache holds another copy."""
    stat = path.stat()
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]


def _unpack_to_cache(folder: Path) -> Path:
    """Decompress the four `.gz` files of `folder` into the cache; its torchvision root.

    A stamp file records which source files the cache holds, so pointing `data.root` at
    another copy (e.g. a miniature one) re-decompresses instead of reusing stale data.
    """
    root = cache_dir() / "fashion-mnist"
    raw = root / "FashionMNIST" / "raw"
    stamps_path = raw / "sources.json"
    stamps = json.loads(stamps_path.read_text()) if stamps_path.is_file() else {}
    changed = False
    for name in GZ_FILES:
        src, dst = folder / name, raw / name.removesuffix(".gz")
        stamp = _source_stamp(src)
        if stamps.get(dst.name) != stamp or not dst.is_file():
            atomic_gunzip(src, dst)
            stamps[dst.name] = stamp
            changed = True
    if changed:
        atomic_write_text(stamps_path, json.dumps(stamps, indent=1))
    return root


def _torchvision_root(folder: Path) -> Path | None:
    """A root that torchvision's FashionMNIST reads for the data in `folder`, or None."""
    raw = folder / "FashionMNIST" / "raw"
    if all((raw / name.removesuffix(".gz")).is_file() for name in GZ_FILES):
        return folder
    if all((folder / name).is_file() for name in GZ_FILES):
        with data_errors(f"cannot unpack Fashion-MNIST from {folder} into {cache_dir()}", FIXES):
            return _unpack_to_cache(folder)
    return None


def _resolve_root(cfg: DataConfig) -> Path:
    """The torchvision root to load from (or download into), following the module's order."""
    if cfg.root is not None:
        candidates = [Path(cfg.root).expanduser()]
        download_root = candidates[0]
    else:
        candidates = [DEBIAN_ROOT, DOWNLOAD_ROOT]
        download_root = DOWNLOAD_ROOT
    for folder in candidates:
        found = _torchvision_root(folder)
        if found is not None:
            return found
    if cfg.download:
        return download_root
    looked = " or ".join(str(folder.absolute()) for folder in candidates)
    raise DataError(
        f"Fashion-MNIST not found in {looked} (expected {', '.join(GZ_FILES)} or "
        f"FashionMNIST/raw/ there): {FIXES}"
    )


def load_fashion_mnist(cfg: DataConfig) -> DataSource:
    """Fashion-MNIST, 1x28x28, with the small-image augmentation."""
    root = _resolve_root(cfg)
    with data_errors(f"cannot load Fashion-MNIST from {root.absolute()}", FIXES):
        train = FashionMNIST(str(root), train=True, download=cfg.download)
        test = FashionMNIST(str(root), train=False)
    return torchvision_source(
        train,
        test,
        in_channels=1,
        image_size=(28, 28),
        mean=MEAN,
        std=STD,
        transforms=small_image_transforms(28, MEAN, STD, cfg.crop_padding),
    )
