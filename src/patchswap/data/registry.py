"""Dataset names: each maps to a loader and a one-line description for `patchswap list`."""

from __future__ import annotations

from collections.abc import Callable

from ..config import DataConfig
from ..errors import unknown_name
from . import cifar, fashion_mnist, imagefolder
from .bundle import DataSource

DATASETS: dict[str, tuple[Callable[[DataConfig], DataSource], str]] = {
    "cifar10": (cifar.load_cifar10, cifar.CIFAR10_DESCRIPTION),
    "cifar100": (cifar.load_cifar100, cifar.CIFAR100_DESCRIPTION),
    "fashion_mnist": (fashion_mnist.load_fashion_mnist, fashion_mnist.DESCRIPTION),
    "imagefolder": (imagefolder.load_imagefolder, imagefolder.DESCRIPTION),
}


def available_datasets() -> dict[str, str]:
    """Dataset name -> one-line description, including the default root and how to get files."""
    return {name: description for name, (_, description) in DATASETS.items()}


def get_loader(name: str) -> Callable[[DataConfig], DataSource]:
    """The loader registered as `name`; an error listing the valid names otherwise."""
    if name not in DATASETS:
        raise unknown_name("dataset", name, list(DATASETS))
    return DATASETS[name][0]
