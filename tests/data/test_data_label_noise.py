"""Symmetric label noise: exact counts, never the true class, class-balanced, seeded, recorded."""

import json

import pytest
import torch

from patchswap.config import DataConfig, LabelNoiseConfig
from patchswap.data import build_datasets
from patchswap.data.label_noise import symmetric_label_noise, write_label_noise
from patchswap.errors import ConfigError
from patchswap.recipes import find_recipe
from patchswap.runs import load_config, train


def balanced(per_class: int, classes: int) -> torch.Tensor:
    return torch.arange(per_class * classes) % classes


def test_flips_exactly_the_asked_count_class_balanced_never_to_the_true_class():
    labels = balanced(100, 10)
    noise = symmetric_label_noise(labels, 10, 0.4, seed=1)
    changed = torch.nonzero(noise.labels != labels).flatten()
    assert torch.equal(changed, noise.indices) and len(changed) == 400
    assert torch.equal(noise.original, labels[changed])
    assert torch.bincount(labels[changed], minlength=10).tolist() == [40] * 10
    assert (noise.labels[changed] != labels[changed]).all()


def test_new_labels_are_uniform_over_the_other_classes():
    labels = balanced(1000, 10)
    noise = symmetric_label_noise(labels, 10, 1.0, seed=0)
    pairs = torch.bincount(labels * 10 + noise.labels, minlength=100).view(10, 10)
    assert pairs.diagonal().sum() == 0
    off = pairs[~torch.eye(10, dtype=torch.bool)]
    assert off.min() > 60 and off.max() < 170  # 1000 / 9 = 111 each, binomial spread


def test_uneven_classes_and_counts_split_by_largest_remainder():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    noise = symmetric_label_noise(labels, 3, 0.33, seed=0)
    # 33 flips: shares 16.5, 9.9, 6.6 -> 16, 9, 6 and the 2 leftovers to classes 1 and 2
    assert torch.bincount(noise.original, minlength=3).tolist() == [16, 10, 7]


def test_seeded():
    labels = balanced(50, 4)
    a, b = (symmetric_label_noise(labels, 4, 0.2, seed=5) for _ in range(2))
    assert torch.equal(a.labels, b.labels)
    assert not torch.equal(a.labels, symmetric_label_noise(labels, 4, 0.2, seed=6).labels)


def test_bad_rate_is_a_config_error():
    with pytest.raises(ConfigError, match=r"data.label_noise.rate=1.5 must be in \[0, 1\]"):
        symmetric_label_noise(balanced(5, 2), 2, 1.5, seed=0)


def test_build_datasets_serves_noisy_training_labels_and_a_clean_test_set(
    fashion_mnist_root, tmp_path
):
    cfg = DataConfig(name="fashion_mnist", root=str(fashion_mnist_root))
    clean = build_datasets(cfg)
    noise = LabelNoiseConfig(rate=0.5, seed=3)
    noisy = build_datasets(
        DataConfig(name="fashion_mnist", root=str(fashion_mnist_root), label_noise=noise)
    )
    assert clean.label_noise is None and write_label_noise(clean, tmp_path) is None
    flipped = noisy.label_noise.indices
    assert len(flipped) == 30  # 60 images, 6 per class: 3 per class
    assert (noisy.train_labels[flipped] != clean.train_labels[flipped]).all()
    for i in range(len(noisy.train)):
        assert noisy.train[i][1] == noisy.train_eval[i][1] == int(noisy.train_labels[i])
        assert torch.equal(noisy.train_eval[i][0], clean.train_eval[i][0])
    assert [noisy.test[i][1] for i in range(len(noisy.test))] == [
        clean.test[i][1] for i in range(len(clean.test))
    ]

    record = json.loads(write_label_noise(noisy, tmp_path).read_text())
    assert record["rate"] == 0.5 and record["seed"] == 3 and record["num_flipped"] == 30
    assert record["indices"] == flipped.tolist()
    assert record["from"] == clean.train_labels[flipped].tolist()
    assert record["to"] == noisy.train_labels[flipped].tolist()


def test_noisy_label_training_runs_from_a_recipe(tiny_run):
    recipe = find_recipe("fashion_mnist/noisy/patchswap_40")
    cfg = load_config(recipe, tiny_run("epochs=1"))
    assert cfg.data.label_noise.rate == 0.4
    assert train(cfg, quiet=True)["epochs_done"] == 1
    override = load_config(None, tiny_run("data.label_noise={rate: 0.4, seed: 1}", "epochs=1"))
    assert override.data.label_noise == LabelNoiseConfig(rate=0.4, seed=1)
