"""Datasets of patchswap: `build_datasets(cfg.data)` gives the splits and metadata of a run.

Supported names and where their files go: `available_datasets()` (`patchswap list datasets`).
"""

from .build import build_datasets
from .bundle import DataBundle
from .registry import available_datasets

__all__ = ["DataBundle", "available_datasets", "build_datasets"]
