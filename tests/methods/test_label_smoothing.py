"""Label smoothing: both target conventions against a direct computation, and its recipe."""

import math

import pytest
import torch
import torch.nn.functional as F
from recipe_run import train_recipe_one_epoch

from patchswap.errors import ConfigError
from patchswap.methods import Batch, MethodContext, build_method
from patchswap.methods.label_smoothing import smoothed_targets

CONTEXT = MethodContext(num_classes=4, epochs=1, image_size=(1, 1), in_channels=1)


def test_smoothed_targets_of_both_conventions():
    targets = torch.tensor([2])
    torch.testing.assert_close(
        smoothed_targets(targets, 4, 0.1, "all"), torch.tensor([[0.025, 0.025, 0.925, 0.025]])
    )
    torch.testing.assert_close(
        smoothed_targets(targets, 4, 0.1, "others"),
        torch.tensor([[0.1 / 3, 0.1 / 3, 0.9, 0.1 / 3]]),
    )


@pytest.mark.parametrize("convention", ["all", "others"])
def test_loss_is_cross_entropy_against_the_smoothed_label(convention):
    logits = torch.tensor([[2.0, 0.0, -1.0, 0.5], [0.0, 1.0, 3.0, -2.0]])
    targets = torch.tensor([0, 2])
    method = build_method({"name": "label_smoothing", "convention": convention}, None, CONTEXT)
    out = method(lambda x: logits, Batch(torch.zeros(2, 1), targets, torch.arange(2)))
    log_p = F.log_softmax(logits, dim=1)
    expected = 0.0
    for i, y in enumerate(targets.tolist()):
        for k in range(4):
            if convention == "all":
                weight = 0.9 + 0.1 / 4 if k == y else 0.1 / 4
            else:
                weight = 0.9 if k == y else 0.1 / 3
            expected -= weight * float(log_p[i, k]) / 2
    assert out.losses["ce_smooth"].item() == pytest.approx(expected, rel=1e-6)
    if convention == "all":  # PyTorch's own label smoothing is this convention
        reference = F.cross_entropy(logits, targets, label_smoothing=0.1)
        assert out.losses["ce_smooth"].item() == pytest.approx(float(reference), rel=1e-6)
    assert not math.isclose(expected, float(F.cross_entropy(logits, targets)), rel_tol=1e-3)


@pytest.mark.parametrize(
    "options, message",
    [({"eps": 1.0}, "method.eps=1.0 must be in"), ({"convention": "tf"}, "valid: all, others")],
)
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        build_method({"name": "label_smoothing", **options}, None, CONTEXT)


def test_recipe_trains_one_epoch(tiny_run, tmp_path):
    record = train_recipe_one_epoch(
        "fashion_mnist/baselines/label_smoothing", tiny_run("epochs=1"), tmp_path / "runs" / "tiny"
    )
    assert record["train_ce_smooth"] == pytest.approx(record["train_loss"])
