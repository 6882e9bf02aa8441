"""CIFAR-10 and CIFAR-100 from torchvision's standard root layout (python-version pickles).

The pickles are read here with a restricted unpickler, not by torchvision's CIFAR classes:
torchvision calls plain `pickle.load`, which runs whatever code a tampered file names, and only
its per-file md5 check made that safe. That check also rejects converted or miniature copies
(re-pickled batches, test fixtures), so it cannot stay; instead nothing but the dicts, lists,
strings, numbers and numpy arrays of a CIFAR batch can be built. torchvision still downloads
(`data.download=true`) and verifies the archive's md5 before extracting it.
"""

from __future__ import annotations

import _compat_pickle
import pickle
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.datasets import CIFAR10, CIFAR100
from torchvision.datasets.utils import download_and_extract_archive

from ..config import DataConfig
from ..errors import DataError, PatchswapError
from .bundle import DataSource, InMemory, torchvision_source
from .files import data_errors
from .transforms import Augmentation, small_image_transforms

DEFAULT_ROOT = Path("data")
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)

# Every global a CIFAR pickle may name. The official files (Python 2 cPickle, protocol 2) build
# their uint8 array with numpy.core.multiarray._reconstruct, ndarray and dtype; copies re-pickled
# by numpy 2 name numpy._core, Python 3 protocol 2 writes bytes as _codecs.encode, and
# protocol 5 writes arrays with _frombuffer.
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}
PIXELS = 3 * 32 * 32


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global outside ALLOWED_GLOBALS, naming the file."""

    def __init__(self, file: BinaryIO, path: Path, title: str, fix: str) -> None:
        super().__init__(file, encoding="latin1")  # Python 2 str -> str, as numpy expects
        self.path, self.title, self.fix = path, title, fix

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 names (__builtin__.eval) as Python 3 knows them, like pickle's own find_class
        fixed = _compat_pickle.IMPORT_MAPPING.get(module, module), name
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), fixed)
        if (module, name) not in ALLOWED_GLOBALS:
            raise DataError(
                f"{self.title} file {self.path} holds code or objects a CIFAR batch never "
                f"contains ({module}.{name}); it was not loaded: {self.fix}"
            )
        return super().find_class(module, name)


def _read_pickle(path: Path, title: str, fix: str) -> dict:
    """The dict pickled in `path`, built by the restricted unpickler."""
    try:
        with open(path, "rb") as f:
            content = _CifarUnpickler(f, path, title, fix).load()
    except (PatchswapError, OSError):
        raise
    except Exception as err:  # anything else the pickle machinery raises means a bad file
        reason = " ".join(str(err).split()) or type(err).__name__
        raise DataError(f"{title} file {path} is not a readable pickle ({reason}): {fix}") from err
    if not isinstance(content, dict):
        raise DataError(f"{title} file {path} holds a {type(content).__name__}, not a dict: {fix}")
    return content


class CifarSplit(Dataset):
    """One split of CIFAR-10 / CIFAR-100 read from `<root>/<spec.base_folder>/`.

    `spec` (torchvision's CIFAR10 or CIFAR100) gives the file names and label keys; the
    attributes match torchvision's: `data` (N, 32, 32, 3) uint8, `targets`, `classes`.
    Every batch is checked (uint8 rows of 3072 values, one label in range per row) so a
    malformed file fails here, naming itself, rather than during training.
    """

    def __init__(self, spec: type[CIFAR10], title: str, root: Path, train: bool) -> None:
        folder = root / spec.base_folder
        fix = f"replace it with the official python-version file from {spec.filename}"
        meta_path = folder / spec.meta["filename"]
        names = _read_pickle(meta_path, title, fix).get(spec.meta["key"])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise DataError(f"{title} file {meta_path} has no list {spec.meta['key']!r}: {fix}")
        self.classes: list[str] = names
        label_key = "fine_labels" if spec is CIFAR100 else "labels"
        arrays, self.targets = [], []
        for name, _ in spec.train_list if train else spec.test_list:
            path = folder / name
            batch = _read_pickle(path, title, fix)
            data, labels = batch.get("data"), np.asarray(batch.get(label_key, []))
            problem = None
            if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
                problem = "'data' is not a uint8 array of images"
            elif data.shape[1] != PIXELS:
                problem = f"'data' rows hold {data.shape[1]} values, not {PIXELS}"
            elif labels.shape != (len(data),) or labels.dtype.kind not in "iu":
                problem = f"{len(data)} images but {labels.size} integer {label_key!r}"
            elif len(labels) and not 0 <= labels.min() <= labels.max() < len(names):
                problem = f"{label_key!r} outside 0..{len(names) - 1}"
            if problem:
                raise DataError(
                    f"{title} file {path} is not a valid CIFAR batch ({problem}): {fix}"
                )
            arrays.append(data)
            self.targets.extend(labels.tolist())
        self.data = np.concatenate(arrays).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Image.Image, int]:
        return Image.fromarray(self.data[index]), self.targets[index]


def _pixels(split: CifarSplit) -> torch.Tensor:
    """The split's images as a uint8 `(N, 3, 32, 32)` view of its `(N, 32, 32, 3)` array."""
    return torch.from_numpy(split.data).permute(0, 3, 1, 2)


def _load(
    spec: type[CIFAR10],
    title: str,
    cfg: DataConfig,
    mean: tuple[float, ...],
    std: tuple[float, ...],
) -> DataSource:
    """Load both splits of a CIFAR dataset, failing with the folder to fill when files lack."""
    root = Path(cfg.root).expanduser() if cfg.root else DEFAULT_ROOT
    folder = (root / spec.base_folder).absolute()
    names = [name for name, _ in spec.train_list + spec.test_list] + [spec.meta["filename"]]
    hint = (
        f"put the python-version files ({', '.join(names)}, from {spec.filename}) in {folder}/ "
        "or pass data.download=true"
    )
    missing = [name for name in names if not (folder / name).is_file()]
    if missing and not cfg.download:
        raise DataError(f"{title} not found ({folder / missing[0]} is missing): {hint}")
    with data_errors(f"cannot load {title} from {folder}", hint):
        if missing:
            download_and_extract_archive(
                spec.url, str(root), filename=spec.filename, md5=spec.tgz_md5
            )
        train = CifarSplit(spec, title, root, train=True)
        test = CifarSplit(spec, title, root, train=False)
    augmentation = Augmentation(cfg.crop_padding, flip=cfg.flip)
    return torchvision_source(
        train,
        test,
        where=f"{title} in {folder}",
        in_channels=3,
        image_size=(32, 32),
        mean=mean,
        std=std,
        transforms=small_image_transforms(32, mean, std, augmentation),
        in_memory=InMemory(_pixels(train), _pixels(test), augmentation),
    )


def load_cifar10(cfg: DataConfig) -> DataSource:
    """CIFAR-10 from `<root>/cifar-10-batches-py/` (root default ./data)."""
    return _load(CIFAR10, "CIFAR-10", cfg, CIFAR10_MEAN, CIFAR10_STD)


def load_cifar100(cfg: DataConfig) -> DataSource:
    """CIFAR-100 (fine labels) from `<root>/cifar-100-python/` (root default ./data)."""
    return _load(CIFAR100, "CIFAR-100", cfg, CIFAR100_MEAN, CIFAR100_STD)


CIFAR10_DESCRIPTION = (
    f"CIFAR-10: 10 classes, 32x32 RGB; data.root (default ./{DEFAULT_ROOT}) holding "
    "cifar-10-batches-py/ (python version), or data.download=true"
)
CIFAR100_DESCRIPTION = (
    f"CIFAR-100: 100 fine classes, 32x32 RGB; data.root (default ./{DEFAULT_ROOT}) holding "
    "cifar-100-python/ (python version), or data.download=true"
)
