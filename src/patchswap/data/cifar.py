"""CIFAR-10 and CIFAR-100 from torchvision's standard root layout (python-version pickles)."""

from __future__ import annotations

from pathlib import Path

from torchvision.datasets import CIFAR10, CIFAR100

from ..config import DataConfig
from ..errors import DataError
from .bundle import DataSource, torchvision_source
from .files import data_errors
from .transforms import small_image_transforms

DEFAULT_ROOT = Path("data")
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)


def _presence_checked(base: type[CIFAR10]) -> type[CIFAR10]:
    """Subclass of a torchvision CIFAR class whose local-file check is presence only.

    torchvision compares every pickle with the md5 of the official release, which rejects
    converted or miniature copies (re-pickled batches, test fixtures) that load fine. Only the
    per-file md5s are dropped: `download()` still fetches the archive through torchvision,
    which verifies the archive's md5 before extracting it.
    """
    attrs = {
        "__module__": __name__,
        "__doc__": f"torchvision's {base.__name__}, checking local files for presence only.",
        "train_list": [[name, None] for name, _ in base.train_list],
        "test_list": [[name, None] for name, _ in base.test_list],
        "meta": {**base.meta, "md5": None},
    }
    return type(f"Local{base.__name__}", (base,), attrs)


LocalCIFAR10 = _presence_checked(CIFAR10)
LocalCIFAR100 = _presence_checked(CIFAR100)


def _load(
    cls: type[CIFAR10],
    title: str,
    cfg: DataConfig,
    mean: tuple[float, ...],
    std: tuple[float, ...],
) -> DataSource:
    """Load both splits of a CIFAR dataset, failing with the folder to fill when files lack."""
    root = Path(cfg.root).expanduser() if cfg.root else DEFAULT_ROOT
    folder = (root / cls.base_folder).absolute()
    names = [name for name, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    hint = (
        f"put the python-version files ({', '.join(names)}, from {cls.filename}) in {folder}/ "
        "or pass data.download=true"
    )
    missing = [name for name in names if not (folder / name).is_file()]
    if missing and not cfg.download:
        raise DataError(f"{title} not found ({folder / missing[0]} is missing): {hint}")
    with data_errors(f"cannot load {title} from {folder}", hint):
        train = cls(str(root), train=True, download=cfg.download)
        test = cls(str(root), train=False)
    transforms = small_image_transforms(32, mean, std, cfg.crop_padding)
    return torchvision_source(
        train, test, in_channels=3, image_size=(32, 32), mean=mean, std=std, transforms=transforms
    )


def load_cifar10(cfg: DataConfig) -> DataSource:
    """CIFAR-10 from `<root>/cifar-10-batches-py/` (root default ./data)."""
    return _load(LocalCIFAR10, "CIFAR-10", cfg, CIFAR10_MEAN, CIFAR10_STD)


def load_cifar100(cfg: DataConfig) -> DataSource:
    """CIFAR-100 (fine labels) from `<root>/cifar-100-python/` (root default ./data)."""
    return _load(LocalCIFAR100, "CIFAR-100", cfg, CIFAR100_MEAN, CIFAR100_STD)


CIFAR10_DESCRIPTION = (
    f"CIFAR-10: 10 classes, 32x32 RGB; data.root (default ./{DEFAULT_ROOT}) holding "
    "cifar-10-batches-py/ (python version), or data.download=true"
)
CIFAR100_DESCRIPTION = (
    f"CIFAR-100: 100 fine classes, 32x32 RGB; data.root (default ./{DEFAULT_ROOT}) holding "
    "cifar-100-python/ (python version), or data.download=true"
)
