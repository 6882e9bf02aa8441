"""Fashion-MNIST from a folder of the four idx `.gz` files, torchvision's layout, or a download.

Root resolution: `data.root`; else the Debian package `dataset-fashion-mnist`
(/usr/share/datasets/fashion-mnist); else an earlier download in ./data; else a torchvision
download into ./data when `data.download=true`. Flat `.gz` files are decompressed once into the
cache and read by torchvision's `FashionMNIST`; only the idx headers are checked here (magic
numbers, sizes, as many labels as images), so bad files fail naming themselves.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from torchvision.datasets import FashionMNIST

from ..config import DataConfig
from ..errors import DataError
from ..infra.atomic_files import atomic_write_text
from .bundle import DataSource, InMemory, torchvision_source
from .files import atomic_gunzip, cache_dir, data_errors
from .transforms import Augmentation, small_image_transforms

DEBIAN_ROOT = Path("/usr/share/datasets/fashion-mnist")
DOWNLOAD_ROOT = Path("data")
GZ_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
IDX_FORMATS = {  # kind: (magic number, header bytes, dims after the count)
    "images": (2051, 16, [28, 28]),
    "labels": (2049, 8, []),
}
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


def _idx_count(path: Path, shown: Path, kind: str) -> int:
    """The item count in the idx header of `path`, after checking its magic number and size.

    torchvision would fail on a wrong magic number with a bare AssertionError; `shown` is the
    file the user gave (a `.gz` when `path` is its unpacked copy), named in the error.
    """
    magic, header_size, image_shape = IDX_FORMATS[kind]
    fix = f"replace it with the official {shown.name}"
    with open(path, "rb") as f:
        header = f.read(header_size)
    found = int.from_bytes(header[:4], "big")
    if len(header) < header_size or found != magic:
        raise DataError(
            f"Fashion-MNIST file {shown} is not an idx {kind} file (magic number {found}, "
            f"expected {magic}): {fix}"
        )
    dims = [int.from_bytes(header[i : i + 4], "big") for i in range(4, header_size, 4)]
    if dims[1:] != image_shape:
        shape = "x".join(map(str, dims[1:]))
        raise DataError(f"Fashion-MNIST file {shown} holds {shape} images, not 28x28: {fix}")
    size = header_size + math.prod(dims)
    if path.stat().st_size != size:
        raise DataError(
            f"Fashion-MNIST file {shown} holds {path.stat().st_size - header_size} bytes of "
            f"{kind} where its header announces {size - header_size}: {fix}"
        )
    return dims[0]


def _check_idx_files(raw: Path, origin: Path, suffix: str) -> None:
    """Check the four idx files in `raw` (named as `origin/<name><suffix>`) before loading.

    Each split needs as many labels as images: a labels file of another split or release
    otherwise loads without complaint and trains to chance.
    """
    for split in ("train", "t10k"):
        images, labels = f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte"
        shown_images, shown_labels = origin / f"{images}{suffix}", origin / f"{labels}{suffix}"
        n_images = _idx_count(raw / images, shown_images, "images")
        n_labels = _idx_count(raw / labels, shown_labels, "labels")
        if n_images != n_labels:
            raise DataError(
                f"Fashion-MNIST files disagree: {shown_images} holds {n_images} images but "
                f"{shown_labels} holds {n_labels} labels; replace them with the official pair "
                "of one split"
            )


def _torchvision_root(folder: Path) -> Path | None:
    """A root that torchvision's FashionMNIST reads for the data in `folder`, or None."""
    raw = folder / "FashionMNIST" / "raw"
    if all((raw / name.removesuffix(".gz")).is_file() for name in GZ_FILES):
        _check_idx_files(raw, raw, "")
        return folder
    if all((folder / name).is_file() for name in GZ_FILES):
        with data_errors(f"cannot unpack Fashion-MNIST from {folder} into {cache_dir()}", FIXES):
            root = _unpack_to_cache(folder)
        _check_idx_files(root / "FashionMNIST" / "raw", folder, ".gz")
        return root
    return None


def _resolve_root(cfg: DataConfig) -> tuple[Path, Path]:
    """(torchvision root to load from or download into, the folder it comes from).

    Candidates follow the module's order; the second path is the one to name in errors (the
    first is in the cache when `.gz` files were unpacked).
    """
    if cfg.root is not None:
        candidates = [Path(cfg.root).expanduser()]
        download_root = candidates[0]
    else:
        candidates = [DEBIAN_ROOT, DOWNLOAD_ROOT]
        download_root = DOWNLOAD_ROOT
    for folder in candidates:
        found = _torchvision_root(folder)
        if found is not None:
            return found, folder
    if cfg.download:
        return download_root, download_root
    looked = " or ".join(str(folder.absolute()) for folder in candidates)
    raise DataError(
        f"Fashion-MNIST not found in {looked} (expected {', '.join(GZ_FILES)} or "
        f"FashionMNIST/raw/ there): {FIXES}"
    )


def load_fashion_mnist(cfg: DataConfig) -> DataSource:
    """Fashion-MNIST, 1x28x28, with the small-image augmentation."""
    root, folder = _resolve_root(cfg)
    with data_errors(f"cannot load Fashion-MNIST from {folder.absolute()}", FIXES):
        train = FashionMNIST(str(root), train=True, download=cfg.download)
        test = FashionMNIST(str(root), train=False)
    augmentation = Augmentation(cfg.crop_padding, flip=cfg.flip)  # as the CIFAR recipe
    return torchvision_source(
        train,
        test,
        where=f"Fashion-MNIST in {folder.absolute()}",
        in_channels=1,
        image_size=(28, 28),
        mean=MEAN,
        std=STD,
        transforms=small_image_transforms(28, MEAN, STD, augmentation),
        in_memory=InMemory(train.data[:, None], test.data[:, None], augmentation),
    )
