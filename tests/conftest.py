"""Shared pytest fixtures. Keep each area's fixtures in its own clearly marked group."""

from __future__ import annotations

from pathlib import Path

import fixtures_data
import pytest

# --- data: miniature datasets on disk (generators in tests/fixtures_data.py) ---------------


@pytest.fixture(scope="session")
def cifar10_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Root holding a miniature `cifar-10-batches-py/` (5 x 20 train, 30 test)."""
    return fixtures_data.make_cifar10(tmp_path_factory.mktemp("cifar10"))


@pytest.fixture(scope="session")
def cifar100_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Root holding a miniature `cifar-100-python/` (300 train, 100 test)."""
    return fixtures_data.make_cifar100(tmp_path_factory.mktemp("cifar100"))


@pytest.fixture(scope="session")
def fashion_mnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder with the four Fashion-MNIST idx `.gz` files (60 train, 20 test)."""
    return fixtures_data.make_fashion_mnist_gz(tmp_path_factory.mktemp("fashion_mnist"))


@pytest.fixture(scope="session")
def image_folder_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ImageFolder tree: classes cat/dog/fox, 4 train and 2 val 40x30 PNGs each."""
    return fixtures_data.make_image_folder(tmp_path_factory.mktemp("imagefolder"))


@pytest.fixture
def patchswap_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty `$PATCHSWAP_CACHE`, so tests never read or write ~/.cache/patchswap."""
    cache = tmp_path / "patchswap-cache"
    monkeypatch.setenv("PATCHSWAP_CACHE", str(cache))
    return cache


# --- end data ------------------------------------------------------------------------------


# --- engine: tiny end-to-end runs on generated Fashion-MNIST ---------------------------------


@pytest.fixture
def tiny_run(tmp_path: Path, fashion_mnist_root: Path, patchswap_cache: Path):
    """Overrides for a seconds-long CPU run on the miniature Fashion-MNIST: call with extras."""

    def overrides(*extra: str) -> list[str]:
        return [
            "data.name=fashion_mnist",
            f"data.root={fashion_mnist_root}",
            "data.samples_per_class=null",  # recipes ask for more images than the miniature has
            "data.holdout_per_class=null",  # (and hold some out: the demo recipe)
            "model.name=resnet8",
            "model.kwargs={width: 4}",
            "epochs=2",
            "batch_size=8",
            "eval_batch_size=16",
            "optim.lr=0.05",
            "progress=false",
            f"output_dir={tmp_path / 'runs'}",
            "name=tiny",
            *extra,
        ]

    return overrides


@pytest.fixture
def tiny_dense() -> list[str]:
    """Overrides for a seconds-long dense run: resnet8 at width 4, one epoch, batches of 2."""
    return [
        "model.backbone_kwargs={width: 4}",
        "epochs=1",
        "batch_size=2",
        "eval_batch_size=2",
        "progress=false",
    ]


# --- end engine ------------------------------------------------------------------------------


@pytest.fixture
def recipes(tmp_path):
    """Two tiny recipes for grids (compare, parallel, SLURM): hard label and patch swap 2x2."""
    hard = tmp_path / "hard_label.yaml"
    hard.write_text("base: []\nmethod:\n  name: hard_label\n")
    swap = tmp_path / "patchswap.yaml"
    swap.write_text("base: []\nmethod:\n  name: patchswap\n  grid: 2\n")
    return [str(hard), str(swap)]


@pytest.fixture
def sets(tiny_run):
    """tiny_run's overrides for one epoch, without the keys that compare sets itself."""
    keep = [o for o in tiny_run("epochs=1") if not o.startswith(("name=", "output_dir="))]
    return [a for o in keep for a in ("--set", o)]
