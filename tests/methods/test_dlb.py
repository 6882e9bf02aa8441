"""DLB: first step CE only, the last-batch loss, state carried across steps and checkpoints."""

import io

import pytest
import torch
import torch.nn.functional as F
from recipe_run import assert_resume_continues_the_run, train_recipe_one_epoch
from torch import nn

from patchswap.methods import Batch, MethodContext, build_method

CONTEXT = MethodContext(num_classes=3, epochs=1, image_size=(2, 2), in_channels=1)


def make_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 3))


def batch(n, seed):
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 2, 1, 2, 2, generator=g)  # n samples x 2 views
    return Batch(images, torch.randint(3, (n,), generator=g), torch.arange(n))


def test_first_step_is_cross_entropy_on_view_0_and_keeps_view_1():
    model, first = make_model(), batch(4, 1)
    method = build_method({"name": "dlb"}, model, CONTEXT)
    out = method(model, first)
    with torch.no_grad():
        logits = model(first.images[:, 0])
    assert out.losses["ce"].item() == pytest.approx(float(F.cross_entropy(logits, first.targets)))
    assert out.losses["kd"].item() == 0.0
    assert torch.equal(method.previous["images"], first.images[:, 1])
    assert torch.equal(method.previous["targets"], first.targets)
    torch.testing.assert_close(method.previous["logits"], logits)


def test_next_step_learns_from_the_previous_batch_of_another_size():
    model, first, second = make_model(), batch(4, 1), batch(3, 2)
    method = build_method({"name": "dlb", "temperature": 3.0, "alpha": 0.5}, model, CONTEXT)
    method(model, first)
    out = method(model, second)
    with torch.no_grad():
        pre_out = model(first.images[:, 0])  # last step's predictions, the fixed teacher
        out_pre = model(first.images[:, 1])  # the previous batch's other view, now
        current = model(second.images[:, 0])
    ce = F.cross_entropy(torch.cat([out_pre, current]), torch.cat([first.targets, second.targets]))
    p, q = F.softmax(pre_out / 3, dim=1), F.softmax(out_pre / 3, dim=1)
    kd = 9 * float((p * (p / q).log()).sum(dim=1).mean())
    assert out.losses["ce"].item() == pytest.approx(float(ce), rel=1e-5)
    assert out.losses["kd"].item() == pytest.approx(0.5 * kd, rel=1e-5)
    assert kd > 0
    torch.testing.assert_close(out.logits, current)
    assert torch.equal(out.targets, second.targets)


def round_trip(state):
    """Through bytes and back, loading as the trainer does (`weights_only=True`)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_state_survives_a_checkpoint_round_trip():
    model, first, second = make_model(), batch(4, 1), batch(3, 2)
    method = build_method({"name": "dlb"}, model, CONTEXT)
    fresh = build_method({"name": "dlb"}, model, CONTEXT)
    fresh.load_state_dict(round_trip(method.state_dict()))  # nothing to carry yet
    assert fresh.previous == {}
    method(model, first)
    restored = build_method({"name": "dlb"}, model, CONTEXT)
    restored.load_state_dict(round_trip(method.state_dict()))
    expected = method(model, second)
    resumed = restored(model, second)
    assert resumed.losses["kd"].item() > 0
    for name, value in expected.losses.items():
        assert resumed.losses[name].item() == value.item(), name


def test_recipe_trains_one_epoch(tiny_run, tmp_path):
    record = train_recipe_one_epoch(
        "fashion_mnist/baselines/dlb", tiny_run("epochs=1"), tmp_path / "runs" / "tiny"
    )
    assert record["train_kd"] > 0


def test_resumed_run_continues_with_the_carried_batch(tiny_run, tmp_path):
    state = assert_resume_continues_the_run(
        "fashion_mnist/baselines/dlb", tiny_run, tmp_path / "runs"
    )
    assert state["method"]["_extra_state"]["images"].dim() == 4
