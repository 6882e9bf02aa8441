"""The released CIFAR-C layout: loading, accuracy per severity, generated sets and their cache."""

import numpy as np
import pytest
import torch
from torch import nn

from patchswap.errors import DataError
from patchswap.evaluation.corruption_sets import (
    evaluate_corruptions,
    generate_corrupted_set,
    generated_set_folder,
    load_corruption,
)


class BrightnessClassifier(nn.Module):
    """Predicts class round(mean pixel * 2) of [0, 1] images: classes 0, 1, 2 by brightness."""

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        level = pixels.mean(dim=(1, 2, 3)) * 2
        return -(level[:, None] - torch.arange(3.0)[None, :]).abs()


def write_layout(root, n=4, wrong_per_severity=(0, 1, 2, 3, 4)):
    """A miniature released layout: `fog.npy` (5 * n, 32, 32, 3) and `labels.npy`, where the
    first `wrong_per_severity[s - 1]` images of severity s look like another class."""
    labels = np.arange(n) % 3
    images, all_labels = [], []
    for wrong in wrong_per_severity:
        shown = labels.copy()
        shown[:wrong] = (shown[:wrong] + 1) % 3
        values = (shown * 127.5).astype(np.uint8)[:, None, None, None]
        images.append(np.broadcast_to(values, (n, 32, 32, 3)))
        all_labels.append(labels)
    np.save(root / "fog.npy", np.concatenate(images))
    np.save(root / "labels.npy", np.concatenate(all_labels).astype(np.uint8))
    return root


def test_accuracy_per_severity_and_mean_on_a_released_layout(tmp_path):
    root = write_layout(tmp_path, n=4)
    result = evaluate_corruptions(BrightnessClassifier(), root, ["fog"], input_shape=(3, 32, 32))
    assert result["corruptions"]["fog"]["severity"] == {1: 1.0, 2: 0.75, 3: 0.5, 4: 0.25, 5: 0.0}
    assert result["corruptions"]["fog"]["mean"] == pytest.approx(0.5)
    assert result["mean"] == pytest.approx(0.5)
    chosen = evaluate_corruptions(BrightnessClassifier(), root, ["fog"], severities=[2, 3])
    assert chosen["corruptions"]["fog"]["mean"] == pytest.approx(0.625)
    # `limit` keeps the first images of every severity: 2 of 4, of which severity 2 gets 1 wrong.
    limited = evaluate_corruptions(BrightnessClassifier(), root, ["fog"], limit=2, batch_size=1)
    assert limited["corruptions"]["fog"]["severity"] == {1: 1.0, 2: 0.5, 3: 0.0, 4: 0.0, 5: 0.0}


def test_layout_errors_name_the_file_and_the_fix(tmp_path):
    root = write_layout(tmp_path, n=4)
    with pytest.raises(DataError, match=r"snow.npy is missing: put the released CIFAR-10-C"):
        load_corruption(root, "snow")
    with pytest.raises(DataError, match=r"32x32x3 images but the model takes 28x28x1"):
        evaluate_corruptions(BrightnessClassifier(), root, ["fog"], input_shape=(1, 28, 28))
    np.save(root / "labels.npy", np.zeros(7, np.uint8))
    with pytest.raises(DataError, match="has 20 images and labels.npy 7 labels"):
        load_corruption(root, "fog")


def test_generated_set_has_the_released_layout_and_is_cached(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 28, 28, 1), dtype=np.uint8)
    labels = np.array([2, 0, 1])
    folder = generate_corrupted_set(
        images, labels, tmp_path / "set", seed=3, corruptions=["contrast", "fog"]
    )
    fog, fog_labels, n = load_corruption(folder, "fog")
    assert fog.shape == (15, 28, 28, 1) and fog.dtype == np.uint8 and n == 3
    assert fog_labels.tolist() == labels.tolist() * 5
    before = (folder / "fog.npy").stat().st_mtime_ns
    generate_corrupted_set(images, labels, folder, seed=3, corruptions=["fog"])
    assert (folder / "fog.npy").stat().st_mtime_ns == before  # reused, not regenerated

    key = generated_set_folder(images, labels, 3, "fm")
    assert key == generated_set_folder(images.copy(), labels, 3, "fm")
    assert key != generated_set_folder(images, labels, 4, "fm")
    assert key != generated_set_folder(images[::-1].copy(), labels, 3, "fm")
