"""ImageFolder trees with the ImageNet transforms."""

from __future__ import annotations

import shutil

import pytest
import torch

from patchswap.config import DataConfig
from patchswap.data import build_datasets
from patchswap.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from patchswap.errors import DataError


def _cfg(root, **kwargs) -> DataConfig:
    return DataConfig(name="imagefolder", root=str(root), image_size=24, **kwargs)


def test_image_folder_loads_both_splits(image_folder_root):
    bundle = build_datasets(_cfg(image_folder_root))
    assert (len(bundle.train), len(bundle.test)) == (12, 6)
    assert bundle.class_names == ["cat", "dog", "fox"] and bundle.num_classes == 3
    assert (bundle.in_channels, bundle.image_size) == (3, (24, 24))
    assert (bundle.mean, bundle.std) == (IMAGENET_MEAN, IMAGENET_STD)
    assert bundle.train_labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    for dataset in (bundle.train, bundle.train_eval, bundle.test):
        image, label = dataset[len(dataset) - 1]
        assert image.shape == (3, 24, 24) and label == 2


def test_test_transform_is_deterministic_and_train_is_not(image_folder_root):
    bundle = build_datasets(_cfg(image_folder_root))
    torch.manual_seed(0)
    assert torch.equal(bundle.test[0][0], bundle.test[0][0])
    assert torch.equal(bundle.train_eval[0][0], bundle.train_eval[0][0])
    assert not all(torch.equal(bundle.train[0][0], bundle.train[0][0]) for _ in range(5))


@pytest.mark.parametrize("split", ["train", "val"])
def test_missing_split_names_path_and_layout(tmp_path, image_folder_root, split):
    root = tmp_path / "tree"
    shutil.copytree(image_folder_root, root)
    shutil.rmtree(root / split)
    with pytest.raises(DataError) as info:
        build_datasets(_cfg(root))
    message = str(info.value)
    assert str(root / split) in message and f"{root}/train/<class>/<image>" in message


def test_missing_root_and_unset_root(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        build_datasets(_cfg(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="needs data.root="):
        build_datasets(DataConfig(name="imagefolder"))


def test_val_classes_must_match_train(tmp_path, image_folder_root):
    root = tmp_path / "tree"
    shutil.copytree(image_folder_root, root)
    shutil.rmtree(root / "val" / "fox")
    with pytest.raises(DataError, match="same class folders.*fox"):
        build_datasets(_cfg(root))


def test_non_image_files_fail_before_training(tmp_path, image_folder_root):
    root = tmp_path / "tree"
    shutil.copytree(image_folder_root, root)
    (root / "train" / "cat" / "bad.jpg").write_text("not an image")
    (root / "val" / "dog" / "notes.png").write_text("not an image either")
    with pytest.raises(DataError) as info:
        build_datasets(_cfg(root))
    assert str(info.value) == (
        f"{root / 'train' / 'cat' / 'bad.jpg'} is not a readable image (2 of 20 files under "
        f"{root} are not); remove or replace them"
    )


def test_truncated_image_fails_with_its_path_when_decoded(tmp_path, image_folder_root):
    root = tmp_path / "tree"
    shutil.copytree(image_folder_root, root)
    path = root / "train" / "cat" / "cat_0.png"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    bundle = build_datasets(_cfg(root))  # the header is intact
    assert bundle.train[1][1] == 0
    with pytest.raises(DataError) as info:
        bundle.train[0]
    assert str(info.value) == (
        f"cannot decode image {path} (image file is truncated); remove or replace it"
    )
