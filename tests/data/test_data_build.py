"""build_datasets across datasets: registry, augmentation switch, training and test subsets."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from patchswap.config import DataConfig, LabelNoiseConfig
from patchswap.data import DataBundle, available_datasets, build_datasets
from patchswap.data.subset import class_balanced_indices
from patchswap.errors import ConfigError, PatchswapError


def _cifar10(root, **kwargs) -> DataBundle:
    return build_datasets(DataConfig(name="cifar10", root=str(root), **kwargs))


def test_available_datasets_describe_roots():
    names = available_datasets()
    assert set(names) == {"cifar10", "cifar100", "fashion_mnist", "imagefolder"}
    assert "./data" in names["cifar10"] and "cifar-100-python" in names["cifar100"]
    assert "/usr/share/datasets/fashion-mnist" in names["fashion_mnist"]
    assert all(isinstance(text, str) and "\n" not in text for text in names.values())


def test_unknown_name_lists_valid_names():
    with pytest.raises(PatchswapError, match="unknown dataset 'svhn'.*cifar10, cifar100"):
        build_datasets(DataConfig(name="svhn"))


def test_augment_randomizes_train_only(cifar10_root):
    bundle = _cifar10(cifar10_root, crop_padding=4)
    torch.manual_seed(0)
    eval_image, eval_label = bundle.train_eval[5]
    draws = [bundle.train[5] for _ in range(8)]
    assert all(label == eval_label for _, label in draws)
    assert any(not torch.equal(image, eval_image) for image, _ in draws)
    assert torch.equal(bundle.train_eval[5][0], eval_image)


def test_augment_off_uses_test_transform(cifar10_root):
    bundle = _cifar10(cifar10_root, augment=False)
    for i in (0, 37, 99):
        assert torch.equal(bundle.train[i][0], bundle.train_eval[i][0])


@pytest.mark.parametrize("per_class", [1, 3])
def test_samples_per_class_is_balanced_and_aligned(cifar10_root, per_class):
    full = _cifar10(cifar10_root, augment=False)
    bundle = _cifar10(cifar10_root, augment=False, samples_per_class=per_class)
    assert len(bundle.train) == len(bundle.train_eval) == len(bundle.train_labels) == 10 * per_class
    assert torch.bincount(bundle.train_labels).tolist() == [per_class] * 10
    assert bundle.train_labels.dtype == torch.int64
    full_images = torch.stack([full.train_eval[i][0] for i in range(len(full.train_eval))])
    for i in range(len(bundle.train)):
        image, label = bundle.train[i]
        assert label == bundle.train_labels[i] == bundle.train_eval[i][1]
        assert torch.equal(image, bundle.train_eval[i][0])
        assert (full_images == image).flatten(1).all(1).any()  # a real training image
    assert len(bundle.test) == len(full.test)  # the subset is for training only


def test_samples_per_class_is_seeded(cifar10_root):
    def chosen(seed: int) -> list[int]:
        bundle = _cifar10(cifar10_root, samples_per_class=2, subset_seed=seed)
        return bundle.train.indices

    assert chosen(0) == chosen(0)
    assert chosen(0) != chosen(1)
    assert chosen(0) == sorted(chosen(0))


def test_samples_per_class_above_the_smallest_class_fails(cifar100_root):
    cfg = DataConfig(name="cifar100", root=str(cifar100_root), samples_per_class=4)
    with pytest.raises(ConfigError) as info:
        build_datasets(cfg)  # 3 images per class
    assert str(info.value) == (
        "data.samples_per_class=4 but the smallest class of the training set has 3 images; "
        "use <= 3 or leave it unset for all images"
    )
    bundle = build_datasets(replace(cfg, samples_per_class=3))
    assert torch.bincount(bundle.train_labels).tolist() == [3] * 100


def test_samples_per_class_is_checked_against_the_smallest_class():
    labels = torch.tensor([0] * 5 + [1] * 2 + [2] * 9)
    assert len(class_balanced_indices(labels, 2, seed=0)) == 6
    with pytest.raises(ConfigError, match="smallest class of the training set has 2 images"):
        class_balanced_indices(labels, 3, seed=0)


def test_samples_per_class_below_one_fails(cifar10_root):
    with pytest.raises(ConfigError, match="samples_per_class=0"):
        _cifar10(cifar10_root, samples_per_class=0)


def test_holdout_is_class_balanced_never_trained_on_and_clean(cifar10_root):
    """100 images, 10 per class: 2 per class held out, 3 per class of the rest trained on,
    with 40% label noise on the training labels only."""
    full = _cifar10(cifar10_root, augment=False)
    bundle = _cifar10(
        cifar10_root,
        augment=False,
        holdout_per_class=2,
        samples_per_class=3,
        label_noise=LabelNoiseConfig(rate=0.4, seed=0),
    )
    held, trained = bundle.holdout.indices, bundle.train.base.indices
    assert len(held) == 20 and not set(held) & set(trained) and len(trained) == 30
    true_labels = full.train_labels
    assert torch.bincount(true_labels[held], minlength=10).tolist() == [2] * 10
    assert torch.bincount(true_labels[trained], minlength=10).tolist() == [3] * 10
    assert [bundle.holdout[i][1] for i in range(20)] == true_labels[held].tolist()  # clean
    assert not torch.equal(bundle.train_labels, true_labels[trained])  # the noise is there
    assert torch.equal(bundle.holdout[0][0], full.train_eval[held[0]][0])  # test transform


def test_without_a_holdout_the_training_subset_is_unchanged(cifar10_root):
    """The subset a recipe trained on before `holdout_per_class` existed, pinned."""
    assert _cifar10(cifar10_root).holdout is None
    assert _cifar10(cifar10_root, samples_per_class=2).train.indices == (
        class_balanced_indices(_cifar10(cifar10_root).train_labels, 2, seed=0).tolist()
    )


def test_holdout_above_the_smallest_class_fails(cifar10_root):
    with pytest.raises(ConfigError) as info:
        _cifar10(cifar10_root, holdout_per_class=10)  # would take every image of a class
    assert str(info.value) == (
        "data.holdout_per_class=10 but the smallest class of the training set has 10 images; "
        "use <= 9 or leave it unset"
    )
    with pytest.raises(ConfigError, match="smallest class of the training set has 8 images"):
        _cifar10(cifar10_root, holdout_per_class=2, samples_per_class=9)


def test_test_subset_takes_first_images(cifar10_root):
    full = _cifar10(cifar10_root)
    bundle = _cifar10(cifar10_root, test_subset=7)
    assert len(bundle.test) == 7
    assert [bundle.test[i][1] for i in range(7)] == [full.test[i][1] for i in range(7)]
    assert torch.equal(bundle.test[6][0], full.test[6][0])
    assert len(_cifar10(cifar10_root, test_subset=1000).test) == len(full.test)
