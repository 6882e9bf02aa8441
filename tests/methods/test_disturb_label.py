"""DisturbLabel: how often labels change, the loss on the disturbed labels, and its recipe."""

import pytest
import torch
import torch.nn.functional as F
from recipe_run import train_recipe_one_epoch

from patchswap.errors import ConfigError
from patchswap.methods import Batch, MethodContext, build_method
from patchswap.methods.disturb_label import disturb_labels

CONTEXT = MethodContext(num_classes=10, epochs=1, image_size=(1, 1), in_channels=1)


def test_labels_are_redrawn_from_all_classes_with_probability_alpha():
    torch.manual_seed(0)
    targets = torch.zeros(200_000, dtype=torch.long)
    assert torch.equal(disturb_labels(targets, 10, 0.0), targets)
    noisy = disturb_labels(targets, 10, 0.1)
    # redrawn with probability 0.1, uniformly over all 10 classes: changed 0.1 * 9/10 of the time
    assert (noisy != 0).float().mean() == pytest.approx(0.09, abs=0.003)
    counts = torch.bincount(disturb_labels(targets, 10, 1.0), minlength=10).float()
    assert (counts / len(targets)).tolist() == pytest.approx([0.1] * 10, abs=0.005)


def test_loss_is_cross_entropy_on_the_disturbed_labels_and_accuracy_uses_the_true_ones():
    logits = torch.randn(64, 10, generator=torch.Generator().manual_seed(1))
    targets = torch.arange(64) % 10
    method = build_method({"name": "disturb_label", "alpha": 0.5}, None, CONTEXT)
    torch.manual_seed(3)
    out = method(lambda x: logits, Batch(torch.zeros(64, 1), targets, torch.arange(64)))
    torch.manual_seed(3)
    noisy = disturb_labels(targets, 10, 0.5)
    assert not torch.equal(noisy, targets)
    expected = F.cross_entropy(logits, noisy)
    assert out.losses["ce_disturbed"].item() == pytest.approx(float(expected), rel=1e-6)
    assert float(expected) != pytest.approx(float(F.cross_entropy(logits, targets)), rel=1e-3)
    assert torch.equal(out.targets, targets)


def test_alpha_outside_the_unit_interval_is_an_error():
    with pytest.raises(ConfigError, match="method.alpha=1.5 must be in"):
        build_method({"name": "disturb_label", "alpha": 1.5}, None, CONTEXT)


def test_recipe_trains_one_epoch(tiny_run, tmp_path):
    record = train_recipe_one_epoch(
        "fashion_mnist/baselines/disturb_label", tiny_run("epochs=1"), tmp_path / "runs" / "tiny"
    )
    assert "train_ce_disturbed" in record
