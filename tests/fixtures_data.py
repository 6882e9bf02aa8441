"""Generators of miniature datasets in their exact on-disk formats, for tests in any folder.

Each writes what the real release holds (same file names, pickle keys, idx headers, folder
trees), with few, small, seeded images, and returns the root to pass as `data.root`.
Pixel values are reproducible from the arguments, so tests can check decoding, not only shapes.
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def cycle_labels(n: int, num_classes: int) -> np.ndarray:
    """Labels 0, 1, ..., num_classes-1, 0, 1, ...: every class present, counts known."""
    return np.arange(n) % num_classes


def random_pixels(n: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """`n` seeded uint8 images of `shape`."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def _pickle(path: Path, obj: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def cifar_batch(n: int, num_classes: int, seed: int, label_keys: tuple[str, ...]) -> dict:
    """One CIFAR batch dict: `data` uint8 (n, 3072) channel-major rows, labels under each key."""
    labels = cycle_labels(n, num_classes).tolist()
    batch = {
        "batch_label": f"miniature batch {seed}",
        "data": random_pixels(n, (3 * 32 * 32,), seed),
        "filenames": [f"image_{seed}_{i:05d}.png" for i in range(n)],
    }
    batch.update({key: list(labels) for key in label_keys})
    return batch


def cifar10_class_names() -> list[str]:
    return [
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck",
    ]  # fmt: skip


def cifar100_class_names() -> tuple[list[str], list[str]]:
    """(fine, coarse) label names: 100 and 20 placeholders in the real files' roles."""
    return [f"fine_{i:02d}" for i in range(100)], [f"coarse_{i:02d}" for i in range(20)]


def make_cifar10(root: Path, per_batch: int = 20, n_test: int = 30) -> Path:
    """`<root>/cifar-10-batches-py/`: data_batch_1..5 (`per_batch` each), test_batch, meta.

    Batch i's images are `random_pixels(per_batch, (3072,), seed=i)`; the test batch uses seed 0.
    """
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, 6):
        _pickle(folder / f"data_batch_{i}", cifar_batch(per_batch, 10, i, ("labels",)))
    _pickle(folder / "test_batch", cifar_batch(n_test, 10, 0, ("labels",)))
    meta = {"label_names": cifar10_class_names(), "num_cases_per_batch": per_batch, "num_vis": 3072}
    _pickle(folder / "batches.meta", meta)
    return Path(root)


def make_cifar100(root: Path, n_train: int = 300, n_test: int = 100) -> Path:
    """`<root>/cifar-100-python/`: train (seed 1), test (seed 0) and meta."""
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    keys = ("fine_labels", "coarse_labels")
    train = cifar_batch(n_train, 100, 1, keys)
    test = cifar_batch(n_test, 100, 0, keys)
    for batch in (train, test):
        batch["coarse_labels"] = [label // 5 for label in batch["fine_labels"]]
    _pickle(folder / "train", train)
    _pickle(folder / "test", test)
    fine, coarse = cifar100_class_names()
    _pickle(folder / "meta", {"fine_label_names": fine, "coarse_label_names": coarse})
    return Path(root)


def idx_bytes(array: np.ndarray) -> bytes:
    """An uint8 array in the idx format: magic 0x0000 08 <ndim>, big-endian int32 dims, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def make_fashion_mnist_gz(root: Path, n_train: int = 60, n_test: int = 20) -> Path:
    """The four idx `.gz` files directly in `root` (the Debian package's flat layout).

    Train images are `random_pixels(n_train, (28, 28), seed=1)`, test ones seed 0.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed in (("train", n_train, 1), ("t10k", n_test, 0)):
        arrays = {
            "images-idx3": random_pixels(n, (28, 28), seed),
            "labels-idx1": cycle_labels(n, 10).astype(np.uint8),
        }
        for kind, array in arrays.items():
            (root / f"{prefix}-{kind}-ubyte.gz").write_bytes(gzip.compress(idx_bytes(array)))
    return root


def make_image_folder(
    root: Path,
    classes: tuple[str, ...] = ("cat", "dog", "fox"),
    per_class: tuple[int, int] = (4, 2),
    size: tuple[int, int] = (40, 30),
) -> Path:
    """`<root>/train/<class>/*.png` and `<root>/val/<class>/*.png`, RGB of `size` (W, H)."""
    root = Path(root)
    for split, n in zip(("train", "val"), per_class, strict=True):
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            pixels = random_pixels(n, (size[1], size[0], 3), seed=17 * c + n)
            for i, image in enumerate(pixels):
                Image.fromarray(image).save(folder / f"{name}_{i}.png")
    return root


def to_uint8(image: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """Undo ToTensor + Normalize: the HxWxC (HxW for one channel) uint8 pixels of `image`."""
    mean_t = torch.tensor(mean).view(-1, 1, 1)
    std_t = torch.tensor(std).view(-1, 1, 1)
    pixels = (image * std_t + mean_t) * 255
    array = pixels.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return array[..., 0] if array.shape[-1] == 1 else array
