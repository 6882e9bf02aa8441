"""DDGSD: the two-view loss against a direct computation, stop-gradients, and its recipe."""

import pytest
import torch
import torch.nn.functional as F
from recipe_run import train_recipe_one_epoch
from torch import nn

from patchswap.methods import Batch, MethodContext, build_method

CONTEXT = MethodContext(num_classes=3, epochs=1, image_size=(2, 2), in_channels=1)


def kl(p_logits, q_logits, t):
    """KL(softmax(p/T) || softmax(q/T)) summed over classes, mean over the batch."""
    p, q = F.softmax(p_logits / t, dim=1), F.softmax(q_logits / t, dim=1)
    return float((p * (p / q).log()).sum(dim=1).mean())


def make_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))


@pytest.mark.parametrize(
    "options, ce_weight",
    [
        ({}, 0.25),  # Self-KD-Lib: CE over the 2B logits (the view mean), halved again
        ({"ce_weight": 0.5}, 0.5),  # the plain view mean, kept as an option
    ],
)
def test_loss_matches_the_self_kd_lib_formula(options, ce_weight):
    model = make_model()
    images = torch.randn(3, 2, 1, 2, 2)  # 3 samples x 2 views
    targets = torch.tensor([0, 2, 1])
    out = build_method({"name": "ddgsd", **options}, model, CONTEXT)(
        model, Batch(images, targets, torch.arange(3))
    )
    with torch.no_grad():
        z1, z2 = model(images[:, 0]), model(images[:, 1])
        f1, f2 = model[:3](images[:, 0]), model[:3](images[:, 1])
    expected = (
        ce_weight * float(F.cross_entropy(z1, targets) + F.cross_entropy(z2, targets))
        + 16 * kl(z2, z1, 4.0)
        + 16 * kl(z1, z2, 4.0)
        + 5e-4 * float(f1.mean() - f2.mean()) ** 2
    )
    assert sum(out.losses.values()).item() == pytest.approx(expected, rel=1e-5)
    assert out.losses["feature_mean"].item() > 0
    torch.testing.assert_close(out.logits, (z1 + z2) / 2)


def test_each_view_is_distilled_from_the_other_with_a_stop_gradient():
    model = make_model()
    images = torch.randn(3, 2, 1, 2, 2, requires_grad=True)
    out = build_method({"name": "ddgsd"}, model, CONTEXT)(
        model, Batch(images, torch.tensor([0, 2, 1]), torch.arange(3))
    )
    (grad,) = torch.autograd.grad(out.losses["kd_12"], images)
    assert grad[:, 0].abs().sum() > 0
    assert torch.equal(grad[:, 1], torch.zeros_like(grad[:, 1]))


def test_recipe_trains_one_epoch(tiny_run, tmp_path):
    record = train_recipe_one_epoch(
        "fashion_mnist/baselines/ddgsd", tiny_run("epochs=1"), tmp_path / "runs" / "tiny"
    )
    assert {"train_kd_12", "train_kd_21", "train_feature_mean"} <= set(record)
