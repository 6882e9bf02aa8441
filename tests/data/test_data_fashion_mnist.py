"""Fashion-MNIST: flat `.gz` folder (Debian layout), torchvision layout, missing data."""

from __future__ import annotations

import gzip
import shutil

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


def _rewrite(gz, edit) -> None:
    """Replace the idx file inside `gz` with `edit(its bytes)`."""
    gz.write_bytes(gzip.compress(edit(gzip.decompress(gz.read_bytes()))))


def _torchvision_layout(source, root):
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in source.glob("*.gz"):
        (raw / gz.name.removesuffix(".gz")).write_bytes(gzip.decompress(gz.read_bytes()))
    return raw


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
    _torchvision_layout(fashion_mnist_root, tmp_path)
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


def test_label_count_must_match_image_count(tmp_path):
    root = make_fashion_mnist_gz(tmp_path / "fmnist", n_train=60)
    fewer = make_fashion_mnist_gz(tmp_path / "fewer", n_train=30)
    name = "train-labels-idx1-ubyte.gz"
    (root / name).write_bytes((fewer / name).read_bytes())
    with pytest.raises(DataError) as info:
        _load(root)
    assert str(info.value) == (
        f"Fashion-MNIST files disagree: {root / 'train-images-idx3-ubyte.gz'} holds 60 images "
        f"but {root / name} holds 30 labels; replace them with the official pair of one split"
    )


@pytest.mark.parametrize("layout", ["gz", "torchvision"])
def test_wrong_magic_number_names_the_file(tmp_path, fashion_mnist_root, layout):
    root = tmp_path / "fmnist"
    shutil.copytree(fashion_mnist_root, root)
    _rewrite(root / "t10k-images-idx3-ubyte.gz", lambda data: b"\0\0\0\0" + data[4:])
    shown = root / "t10k-images-idx3-ubyte.gz"
    if layout == "torchvision":
        shown = _torchvision_layout(root, tmp_path / "tv") / "t10k-images-idx3-ubyte"
        root = tmp_path / "tv"
    with pytest.raises(DataError) as info:
        _load(root)
    assert str(info.value) == (
        f"Fashion-MNIST file {shown} is not an idx images file (magic number 0, expected 2051): "
        f"replace it with the official {shown.name}"
    )


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda data: data[:-5], "holds 15675 bytes of images where its header announces 15680"),
        (lambda data: data[:8] + (14).to_bytes(4, "big") + data[12:], "holds 14x28 images"),
    ],
    ids=["truncated", "14x28"],
)
def test_truncated_or_odd_images_name_the_file(tmp_path, fashion_mnist_root, edit, problem):
    root = tmp_path / "fmnist"
    shutil.copytree(fashion_mnist_root, root)
    _rewrite(root / "t10k-images-idx3-ubyte.gz", edit)
    with pytest.raises(DataError, match=f"{root / 't10k-images-idx3-ubyte.gz'} {problem}"):
        _load(root)


def test_labels_outside_the_classes_fail(tmp_path, fashion_mnist_root):
    root = tmp_path / "fmnist"
    shutil.copytree(fashion_mnist_root, root)
    _rewrite(root / "train-labels-idx1-ubyte.gz", lambda data: data[:-1] + bytes([10]))
    with pytest.raises(DataError) as info:
        _load(root)
    assert str(info.value) == (
        f"Fashion-MNIST in {root}: the training split has labels outside 0..9 (min 0, max 10); "
        "replace its files with valid ones"
    )


def test_flip_off_leaves_a_random_translation(fashion_mnist_root):
    on = build_datasets(DataConfig(name="fashion_mnist", root=str(fashion_mnist_root)))
    off = build_datasets(
        DataConfig(name="fashion_mnist", root=str(fashion_mnist_root), crop_padding=2, flip=False)
    )
    assert on.in_memory.augmentation.flip and not off.in_memory.augmentation.flip
    assert off.in_memory.augmentation.crop_padding == 2
    assert "RandomHorizontalFlip" not in repr(off.train.transform)
