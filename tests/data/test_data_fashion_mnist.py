"""Fashion-MNIST: flat `.gz` folder (Debian layout), torchvision layout, missing data."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
from fixtures_data import make_fashion_mnist_gz, random_pixels, to_uint8

from patchswap.config import DataConfig
from patchswap.data import build_datasets, fashion_mnist
from patchswap.errors import DataError

CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip


def _load(root) -> object:
    return build_datasets(DataConfig(name="fashion_mnist", root=str(root)))


@pytest.fixture
def no_default_roots(tmp_path, monkeypatch):
    """Hide the Debian folder and ./data, whatever this machine has installed."""
    monkeypatch.setattr(fashion_mnist, "DEBIAN_ROOT", tmp_path / "no-debian")
    monkeypatch.setattr(fashion_mnist, "DOWNLOAD_ROOT", tmp_path / "no-download")


def test_flat_gz_folder_loads_through_cache(fashion_mnist_root, patchswap_cache):
    bundle = _load(fashion_mnist_root)
    assert (len(bundle.train), len(bundle.test)) == (60, 20)
    assert bundle.num_classes == 10 and bundle.class_names == CLASSES
    assert (bundle.in_channels, bundle.image_size) == (1, (28, 28))
    assert bundle.mean == (0.2860,) and bundle.std == (0.3530,)
    assert bundle.train_labels.tolist() == [i % 10 for i in range(60)]
    image, label = bundle.test[7]
    assert image.shape == (1, 28, 28) and label == 7
    expected = random_pixels(20, (28, 28), seed=0)[7]
    np.testing.assert_array_equal(to_uint8(image, bundle.mean, bundle.std), expected)
    raw = patchswap_cache / "fashion-mnist" / "FashionMNIST" / "raw"
    assert (raw / "train-images-idx3-ubyte").is_file()
    assert not [p for p in raw.iterdir() if p.name.endswith(".tmp")]


def test_cache_follows_the_source_folder(tmp_path, fashion_mnist_root):
    assert len(_load(fashion_mnist_root).train) == 60
    other = make_fashion_mnist_gz(tmp_path / "other", n_train=30, n_test=10)
    assert (len(_load(other).train), len(_load(other).test)) == (30, 10)
    assert len(_load(fashion_mnist_root).train) == 60


def test_torchvision_layout_loads_directly(tmp_path, fashion_mnist_root, patchswap_cache):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in fashion_mnist_root.glob("*.gz"):
        (raw / gz.name.removesuffix(".gz")).write_bytes(gzip.decompress(gz.read_bytes()))
    bundle = _load(tmp_path)
    assert (len(bundle.train), len(bundle.test)) == (60, 20)
    assert not patchswap_cache.exists()  # nothing to unpack


def test_missing_root_names_folder_and_fixes(tmp_path, no_default_roots):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError) as info:
        _load(empty)
    message = str(info.value)
    assert str(empty) in message and "train-images-idx3-ubyte.gz" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "data.root=" in message and "data.download=true" in message
    assert "no-debian" not in message and "\n" not in message


def test_missing_default_names_debian_folder(tmp_path, no_default_roots):
    with pytest.raises(DataError) as info:
        build_datasets(DataConfig(name="fashion_mnist"))
    message = str(info.value)
    assert str(tmp_path / "no-debian") in message
    assert "apt-get install dataset-fashion-mnist" in message


def test_default_root_is_the_debian_folder(fashion_mnist_root, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_ROOT", fashion_mnist_root)
    assert len(build_datasets(DataConfig(name="fashion_mnist")).train) == 60


@pytest.mark.skipif(
    not all((fashion_mnist.DEBIAN_ROOT / name).is_file() for name in fashion_mnist.GZ_FILES),
    reason=f"real Fashion-MNIST not installed in {fashion_mnist.DEBIAN_ROOT} "
    "(apt-get install dataset-fashion-mnist)",
)
def test_real_debian_fashion_mnist():
    bundle = build_datasets(DataConfig(name="fashion_mnist"))
    assert (len(bundle.train), len(bundle.test)) == (60000, 10000)
    assert torch.bincount(bundle.train_labels).tolist() == [6000] * 10
    image, label = bundle.train[0]
    assert image.shape == (1, 28, 28) and 0 <= label < 10
