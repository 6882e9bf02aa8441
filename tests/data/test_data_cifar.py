"""CIFAR-10 / CIFAR-100 load from their standard layout, miniature copies included."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fixtures_data import cifar10_class_names, cifar100_class_names, random_pixels, to_uint8

from patchswap.config import DataConfig
from patchswap.data import build_datasets
from patchswap.errors import DataError


def test_cifar10_loads_miniature_batches(cifar10_root):
    bundle = build_datasets(DataConfig(name="cifar10", root=str(cifar10_root)))
    assert (len(bundle.train), len(bundle.train_eval), len(bundle.test)) == (100, 100, 30)
    assert bundle.num_classes == 10 and bundle.class_names == cifar10_class_names()
    assert (bundle.in_channels, bundle.image_size) == (3, (32, 32))
    assert bundle.mean == (0.4914, 0.4822, 0.4465) and bundle.std == (0.2470, 0.2435, 0.2616)
    assert bundle.train_labels.dtype == torch.int64
    assert bundle.train_labels.tolist() == [i % 10 for i in range(20)] * 5
    image, label = bundle.test[3]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and label == 3
    # rows of the pickle are channel-major (R plane, G plane, B plane)
    expected = random_pixels(30, (3, 32, 32), seed=0)[3].transpose(1, 2, 0)
    np.testing.assert_array_equal(to_uint8(image, bundle.mean, bundle.std), expected)


def test_cifar100_uses_fine_labels_and_names(cifar100_root):
    bundle = build_datasets(DataConfig(name="cifar100", root=str(cifar100_root)))
    assert (len(bundle.train), len(bundle.test)) == (300, 100)
    assert bundle.num_classes == 100 and bundle.class_names == cifar100_class_names()[0]
    assert bundle.train_labels.tolist() == [i % 100 for i in range(300)]
    assert bundle.mean == (0.5071, 0.4865, 0.4409) and bundle.std == (0.2673, 0.2564, 0.2762)
    image, label = bundle.train_eval[150]
    assert image.shape == (3, 32, 32) and label == 50


@pytest.mark.parametrize(
    ("name", "folder"), [("cifar10", "cifar-10-batches-py"), ("cifar100", "cifar-100-python")]
)
def test_missing_cifar_names_folder_and_fix(tmp_path, name, folder):
    with pytest.raises(DataError) as info:
        build_datasets(DataConfig(name=name, root=str(tmp_path)))
    message = str(info.value)
    assert str(tmp_path / folder) in message and "data.download=true" in message
    assert "\n" not in message


def test_partial_cifar_names_the_missing_file(tmp_path, cifar10_root):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in ("data_batch_1", "batches.meta"):
        (folder / name).write_bytes((cifar10_root / "cifar-10-batches-py" / name).read_bytes())
    with pytest.raises(DataError, match="data_batch_2 is missing"):
        build_datasets(DataConfig(name="cifar10", root=str(tmp_path)))
