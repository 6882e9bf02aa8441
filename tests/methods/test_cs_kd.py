"""CS-KD: the class-wise loss against a direct computation, the detached partner, its recipe."""

import math

import pytest
import torch
import torch.nn.functional as F
from recipe_run import train_recipe_one_epoch
from torch import nn

from patchswap.methods import Batch, MethodContext, build_method

CONTEXT = MethodContext(num_classes=3, epochs=1, image_size=(2, 2), in_channels=1)


def direct(anchor, partner, targets, t, lam):
    """CE on the anchors + lam * T^2 * sum KL(partner || anchor) / B, written out."""
    b = len(anchor)
    ce = float(F.cross_entropy(anchor, targets))
    kl = 0.0
    for i in range(b):
        p = F.softmax(partner[i] / t, dim=0).tolist()
        q = F.softmax(anchor[i] / t, dim=0).tolist()
        kl += sum(p[c] * math.log(p[c] / q[c]) for c in range(3))
    return ce + lam * t * t * kl / b


@pytest.mark.parametrize("lam", [1.0, 3.0])
def test_loss_value_and_that_only_anchors_get_gradients(lam):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    images = torch.randn(4, 1, 2, 2, requires_grad=True)  # 2 anchors, then their 2 partners
    targets = torch.tensor([1, 2, 1, 2])
    method = build_method({"name": "cs_kd", "lam": lam}, model, CONTEXT)
    grad_enabled = []
    model.register_forward_hook(lambda *_: grad_enabled.append(torch.is_grad_enabled()))
    out = method(model, Batch(images, targets, torch.arange(4)))
    assert grad_enabled == [True, False]  # anchors, then partners under no_grad
    with torch.no_grad():
        logits = model(images)
    expected = direct(logits[:2], logits[2:], targets[:2], 4.0, lam)
    assert sum(out.losses.values()).item() == pytest.approx(expected, rel=1e-5)
    assert torch.allclose(out.logits, logits) and torch.equal(out.targets, targets)
    sum(out.losses.values()).backward()
    assert images.grad[:2].abs().sum() > 0
    assert torch.equal(images.grad[2:], torch.zeros_like(images.grad[2:]))


def test_recipe_trains_one_epoch(tiny_run, tmp_path):
    record = train_recipe_one_epoch(
        "fashion_mnist/baselines/cs_kd", tiny_run("epochs=1"), tmp_path / "runs" / "tiny"
    )
    assert record["train_class_kd"] >= 0
