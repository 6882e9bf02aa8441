"""The method contract (methods/base.py), checked on every registered method as timm tests every
registered model: built with its default options (and the session's teacher where it needs
one) on a tiny model, one step on its batch layout, finite losses, the rows it reports, and a
state_dict that survives a checkpoint's save and load."""

from __future__ import annotations

import io
from dataclasses import fields
from pathlib import Path

import pytest
import torch

from patchswap.methods import METHODS, Batch, Method, MethodContext, StepOutput, build_method
from patchswap.models import build_model

ANCHORS = 4  # samples per step (pair batches forward twice as many images)
CLASSES = 10
LABELS = torch.arange(40) % CLASSES  # the training set the context describes
CONTEXT = MethodContext(
    num_classes=CLASSES,
    epochs=2,
    image_size=(28, 28),
    in_channels=1,
    num_samples=len(LABELS),
    train_labels=LABELS,
)


def tiny_model() -> torch.nn.Module:
    """The session teacher's architecture (resnet8, width 4, 1x28x28, 10 classes)."""
    return build_model("resnet8", CLASSES, 1, width=4)


def build(name: str, model: torch.nn.Module, teacher: Path) -> Method:
    """The method with its default options, and the teacher where it needs one."""
    spec = {"name": name}
    if "teacher" in {f.name for f in fields(METHODS[name].Options)}:
        spec["teacher"] = str(teacher)
    return build_method(spec, model, CONTEXT)


def batch_for(method: Method) -> Batch:
    """The layout the trainer's loader gives this method: pairs, views or plain images."""
    generator = torch.Generator().manual_seed(0)
    indices = torch.arange(ANCHORS) * 3
    targets = LABELS[indices]
    if method.paired:  # anchors, then same-class partners
        indices, targets = torch.cat([indices, indices + CLASSES]), targets.repeat(2)
    shape = (len(indices), method.views) if method.views > 1 else (len(indices),)
    images = torch.randn(*shape, 1, 28, 28, generator=generator)
    return Batch(images, targets, indices)


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key, value in a.items():
        if isinstance(value, dict):  # a method's extra state
            assert_same_state(value, b[key])
        else:
            assert torch.equal(value, b[key]), key


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_keeps_the_contract(name, teacher_checkpoint):
    torch.manual_seed(0)
    model = tiny_model()
    method = build(name, model, teacher_checkpoint)
    scalars = method.on_epoch_start(1)
    assert all(isinstance(value, float) for value in scalars.values()), scalars
    model.train()
    method.train()
    out = method(model, batch_for(method))

    assert isinstance(out, StepOutput) and out.losses
    for term, value in out.losses.items():
        assert value.dim() == 0 and torch.isfinite(value), (term, value)
    sum(out.losses.values()).backward()
    assert any(p.grad is not None for p in model.parameters())
    assert out.logits.shape == (len(out.targets), CLASSES)
    assert out.weight == ANCHORS
    if out.pairs is not None:
        assert out.pairs.anchors.shape == out.pairs.partners.shape == (ANCHORS, CLASSES)
        assert torch.equal(out.pairs.targets, LABELS[torch.arange(ANCHORS) * 3])

    buffer = io.BytesIO()
    torch.save(method.state_dict(), buffer)  # as a checkpoint holds it
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    restored = build(name, tiny_model(), teacher_checkpoint)
    restored.load_state_dict(state)
    assert_same_state(restored.state_dict(), method.state_dict())
