"""FER: the memory update, plain CE in epoch 1, the scheduled loss later, and its recipe."""

import math

import pytest
import torch
import torch.nn.functional as F
from recipe_run import assert_resume_continues_the_run, train_recipe_one_epoch

from patchswap.errors import PatchswapError
from patchswap.methods import Batch, MethodContext, build_method

CONTEXT = MethodContext(num_classes=3, epochs=4, image_size=(1, 1), in_channels=1, num_samples=6)
# samples 4 and 1 are classified correctly (classes 0 and 1); sample 5 (class 2) is not
LOGITS = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.5], [3.0, 0.0, 1.0]])
TARGETS = torch.tensor([0, 1, 2])
INDICES = torch.tensor([4, 1, 5])


def step(method):
    return method(lambda x: LOGITS, Batch(torch.zeros(3, 1), TARGETS, INDICES))


def test_epoch_one_is_cross_entropy_and_fills_the_memory_of_correct_samples():
    method = build_method({"name": "fer", "mu": 0.5}, None, CONTEXT)
    method.on_epoch_start(1)
    out = step(method)
    assert out.losses["ce"].item() == pytest.approx(F.cross_entropy(LOGITS, TARGETS).item())
    assert method.learned.tolist() == [False, True, False, False, True, False]
    for row, index in ((0, 4), (1, 1)):
        p_y = F.softmax(LOGITS[row], dim=0)[TARGETS[row]].item()
        w = 1 - math.exp(-0.5 * p_y)
        expected = w * F.softmax(LOGITS[row] / 5, dim=0)  # from an empty memory
        torch.testing.assert_close(method.memory[index], expected)
    assert not method.memory[[0, 2, 3, 5]].any()


def test_later_epochs_weight_memory_and_labels_by_training_progress():
    method = build_method({"name": "fer"}, None, CONTEXT)
    memory = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    method.memory[INDICES] = memory
    method.learned[torch.tensor([4, 5])] = True  # sample 1 was never right before
    method.on_epoch_start(3)
    out = step(method)
    r, gamma, t = 3 / 4, 0.1, 5.0
    ce = F.cross_entropy(LOGITS, TARGETS, reduction="none")
    memory_ce = -(memory * F.log_softmax(LOGITS / t, dim=1)).sum(dim=1) * t * t
    learned = torch.tensor([1.0, 0.0, 1.0])
    expected_ce = ((gamma + (1 - r) * (1 - gamma)) * learned * ce + (1 - learned) * ce).sum() / 3
    expected_memory = (r * (1 - gamma) * learned * memory_ce).sum() / 3
    assert out.losses["ce"].item() == pytest.approx(expected_ce.item(), rel=1e-6)
    assert out.losses["memory_ce"].item() == pytest.approx(expected_memory.item(), rel=1e-6)
    # the loss read the memory first; only then were the correct samples (4 and 1) updated
    assert not torch.equal(method.memory[4], memory[0])
    torch.testing.assert_close(method.memory[5], memory[2])


def test_needs_the_training_set_size():
    context = MethodContext(num_classes=3, epochs=4, image_size=(1, 1), in_channels=1)
    with pytest.raises(PatchswapError, match="fer needs the training-set size"):
        build_method({"name": "fer"}, None, context)


def test_recipe_trains_one_epoch(tiny_run, tmp_path):
    record = train_recipe_one_epoch(
        "fashion_mnist/baselines/fer", tiny_run("epochs=1"), tmp_path / "runs" / "tiny"
    )
    assert record["train_memory_ce"] == 0.0


def test_resumed_run_continues_with_the_same_state(tiny_run, tmp_path):
    assert_resume_continues_the_run("fashion_mnist/baselines/fer", tiny_run, tmp_path / "runs")
