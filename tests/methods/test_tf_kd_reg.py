"""TF-KD_reg: the official code's virtual-teacher loss, written out, and its recipe."""

import math

import pytest
import torch
import torch.nn.functional as F
from recipe_run import train_recipe_one_epoch

from patchswap.errors import ConfigError
from patchswap.methods import Batch, MethodContext, build_method

CONTEXT = MethodContext(num_classes=3, epochs=1, image_size=(1, 1), in_channels=1)


def official(logits, targets, alpha=0.1, t=20.0, multiplier=100.0):
    """`loss_kd_regularization` of the TF-KD repository, element by element."""
    b, k = logits.shape
    kl_sum = 0.0
    for i in range(b):
        u = [0.99 if c == targets[i] else 0.01 / (k - 1) for c in range(k)]
        q = [math.exp(v / t) for v in u]
        q = [v / sum(q) for v in q]
        log_p = F.log_softmax(logits[i], dim=0).tolist()
        kl_sum += sum(q[c] * (math.log(q[c]) - log_p[c]) for c in range(k))
    kl_div_loss_mean = kl_sum / (b * k)  # nn.KLDivLoss() averages over every element
    return (1 - alpha) * float(F.cross_entropy(logits, targets)) + alpha * multiplier * (
        kl_div_loss_mean
    )


def test_loss_matches_the_official_formula():
    logits = torch.tensor([[3.0, -1.0, 0.5], [0.2, 0.1, -0.4]])
    targets = torch.tensor([0, 2])
    method = build_method({"name": "tf_kd_reg"}, None, CONTEXT)
    out = method(lambda x: logits, Batch(torch.zeros(2, 1), targets, torch.arange(2)))
    assert sum(out.losses.values()).item() == pytest.approx(official(logits, targets), rel=1e-5)
    assert out.losses["ce"].item() == pytest.approx(0.9 * float(F.cross_entropy(logits, targets)))


def test_bad_temperature_is_an_error():
    with pytest.raises(ConfigError, match="method.temperature=0.0 must be > 0"):
        build_method({"name": "tf_kd_reg", "temperature": 0}, None, CONTEXT)


def test_recipe_trains_one_epoch(tiny_run, tmp_path):
    record = train_recipe_one_epoch(
        "fashion_mnist/baselines/tf_kd_reg", tiny_run("epochs=1"), tmp_path / "runs" / "tiny"
    )
    assert record["train_virtual_teacher"] > 0
