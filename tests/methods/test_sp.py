"""SP: row-normalized batch Gram matrices of the last feature maps, RepDistiller weights."""

import json
import math

import pytest
import torch

from patchswap.methods import Batch, MethodContext, build_method
from patchswap.methods.sp import similarity, similarity_loss
from patchswap.models import build_model

CONTEXT = MethodContext(
    num_classes=10, epochs=1, image_size=(28, 28), in_channels=1, num_samples=60
)


def test_similarity_loss_on_a_hand_checkable_case():
    # Orthogonal student rows give G = I; identical teacher rows give rows (1, 1)/sqrt(2).
    student = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    teacher = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert torch.allclose(similarity(teacher), torch.full((2, 2), 1 / math.sqrt(2)))
    expected = (4 - 2 * math.sqrt(2)) / 4  # 2 * ((1/sqrt2 - 1)^2 + 1/2) / B^2
    assert similarity_loss(student, teacher).item() == pytest.approx(expected)
    assert similarity_loss(student, 3 * student).item() == pytest.approx(0.0, abs=1e-7)


def test_sp_uses_the_last_feature_maps_before_pooling(teacher_checkpoint):
    model = build_model("resnet8", 10, 1, width=8)
    method = build_method({"name": "sp", "teacher": str(teacher_checkpoint)}, model, CONTEXT)
    images = torch.randn(4, 1, 28, 28)
    method.train()
    out = method(model, Batch(images, torch.tensor([0, 1, 2, 3]), torch.arange(4)))
    maps = {}
    hooks = [
        net.layer3.register_forward_hook(lambda m, i, o, key=key: maps.__setitem__(key, o))
        for key, net in (("student", model), ("teacher", method.teacher))
    ]
    with torch.no_grad():
        model(images), method.teacher(images)
    for hook in hooks:
        hook.remove()
    expected = 3000 * similarity_loss(maps["student"], maps["teacher"])
    assert maps["student"].dim() == 4
    assert out.losses["sp"].item() == pytest.approx(expected.item(), rel=1e-4)


def test_sp_recipe_trains_one_epoch_through_the_cli(train_recipe):
    folder = train_recipe("fashion_mnist/baselines/sp", "model.kwargs={width: 8}")
    record = json.loads((folder / "metrics.jsonl").read_text().splitlines()[0])
    assert record["train_sp"] > 0
