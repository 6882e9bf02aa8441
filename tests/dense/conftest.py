"""Dense tests: their own cache folder, and one small scene set written once per module."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchswap.dense.scenes import write_scenes


@pytest.fixture(autouse=True)
def _isolated_cache(patchswap_cache: Path) -> Path:
    return patchswap_cache


@pytest.fixture(scope="module")
def scenes_root(tmp_path_factory: pytest.TempPathFactory, fashion_mnist_root: Path) -> Path:
    """A root with VOCdevkit/: 6 train, 4 val, 3 test scenes (seed 0, miniature Fashion-MNIST)."""
    root = tmp_path_factory.mktemp("scenes")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATCHSWAP_CACHE", str(tmp_path_factory.mktemp("cache")))
        write_scenes(root, fashion_mnist_root, train=6, val=4, test=3, seed=0)
    return root
