"""OLS: accumulation from correct samples, the soft labels installed each epoch, the recipe."""

import pytest
import torch
import torch.nn.functional as F
from recipe_run import assert_resume_continues_the_run, train_recipe_one_epoch

from patchswap.errors import ConfigError
from patchswap.methods import Batch, MethodContext, build_method

CONTEXT = MethodContext(num_classes=3, epochs=2, image_size=(1, 1), in_channels=1)
# rows 0, 1 and 3 are classified correctly (classes 0, 0, 1); row 2 (class 2) is not
LOGITS = torch.tensor([[2.0, 0.0, 0.0], [1.0, 0.5, -1.0], [3.0, 0.0, 1.0], [0.0, 2.0, 1.0]])
TARGETS = torch.tensor([0, 0, 2, 1])


def step(method, logits=LOGITS, targets=TARGETS):
    n = len(targets)
    return method(lambda x: logits, Batch(torch.zeros(n, 1), targets, torch.arange(n)))


def test_epoch_one_of_the_cifar_variant_is_half_cross_entropy():
    method = build_method({"name": "ols"}, None, CONTEXT)
    method.on_epoch_start(1)
    out = step(method)
    assert out.losses["ce"].item() == pytest.approx(0.5 * F.cross_entropy(LOGITS, TARGETS).item())
    assert out.losses["soft_ce"].item() == 0.0  # the soft labels start at zero


def test_correct_predictions_accumulate_and_become_the_soft_labels_at_epoch_start():
    method = build_method({"name": "ols"}, None, CONTEXT)
    method.on_epoch_start(1)
    step(method)
    p = F.softmax(LOGITS, dim=1)
    torch.testing.assert_close(method.accumulated[0], p[0] + p[1])
    torch.testing.assert_close(method.accumulated[1], p[3])
    assert method.counts.tolist() == [2.0, 1.0, 0.0]
    assert not method.soft_labels.any()  # nothing changes before the next epoch starts

    method.on_epoch_start(2)
    torch.testing.assert_close(method.soft_labels[0], (p[0] + p[1]) / 2)
    torch.testing.assert_close(method.soft_labels[1], p[3])
    torch.testing.assert_close(method.soft_labels[2], torch.full((3,), 1 / 3))  # no correct one
    assert not method.accumulated.any() and not method.counts.any()

    out = step(method)
    soft = method.soft_labels[TARGETS]
    expected = -(soft * F.log_softmax(LOGITS, dim=1)).sum(dim=1).mean()
    assert out.losses["soft_ce"].item() == pytest.approx(0.5 * expected.item(), rel=1e-6)
    assert {"soft_labels", "accumulated", "counts"} <= set(method.state_dict())


def test_fine_grained_variant_starts_uniform_and_freezes_confident_classes():
    method = build_method({"name": "ols", "variant": "fine_grained"}, None, CONTEXT)
    torch.testing.assert_close(method.soft_labels, torch.full((3, 3), 1 / 3))
    out = step(method)
    ce = F.cross_entropy(LOGITS, TARGETS).item()
    soft_ce = -F.log_softmax(LOGITS, dim=1).mean(dim=1).mean().item()
    assert out.losses["ce"].item() == pytest.approx(ce)
    assert out.losses["soft_ce"].item() == pytest.approx(soft_ce, rel=1e-6)

    frozen = torch.tensor([0.9, 0.05, 0.05])
    method.soft_labels[0] = frozen  # max >= 0.88: no longer updated
    method.on_epoch_start(2)
    torch.testing.assert_close(method.soft_labels[0], frozen)
    torch.testing.assert_close(method.soft_labels[1], F.softmax(LOGITS[3], dim=0))


def test_unknown_variant_is_an_error():
    with pytest.raises(ConfigError, match="method.variant='imagenet' is unknown"):
        build_method({"name": "ols", "variant": "imagenet"}, None, CONTEXT)


def test_recipe_trains_one_epoch(tiny_run, tmp_path):
    record = train_recipe_one_epoch(
        "fashion_mnist/baselines/ols", tiny_run("epochs=1"), tmp_path / "runs" / "tiny"
    )
    assert record["train_soft_ce"] == 0.0


def test_resumed_run_continues_with_the_same_state(tiny_run, tmp_path):
    assert_resume_continues_the_run("fashion_mnist/baselines/ols", tiny_run, tmp_path / "runs")
