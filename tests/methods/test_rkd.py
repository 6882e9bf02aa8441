"""RKD: distance and angle relations of the embeddings, RepDistiller weights 25 / 50."""

import json

import pytest
import torch

from patchswap.methods import Batch, MethodContext, build_method
from patchswap.methods.rkd import normalized_distance, rkd_loss, triplet_angles
from patchswap.models import build_model

CONTEXT = MethodContext(
    num_classes=10, epochs=1, image_size=(28, 28), in_channels=1, num_samples=60
)


def test_rkd_loss_on_a_hand_checkable_case():
    # Points 0, 1, 2 against 0, 1, 3 on a line: the same order, so the same angles; distances
    # over their means are (3/4, 3/2, 3/4) vs (1/2, 3/2, 1): two pairs off by 1/4 (both ways).
    student = torch.tensor([[0.0], [1.0], [2.0]])
    teacher = torch.tensor([[0.0], [1.0], [3.0]])
    assert torch.allclose(normalized_distance(student)[0], torch.tensor([0.0, 0.75, 1.5]))
    assert torch.equal(triplet_angles(student), triplet_angles(teacher))
    smooth_l1 = 4 * 0.5 * 0.25**2 / 9  # four entries of the 3x3 matrix, mean over nine
    assert rkd_loss(student, teacher, 25.0, 50.0).item() == pytest.approx(25 * smooth_l1)
    # Relations ignore scale: a scaled copy of the student is matched exactly.
    assert rkd_loss(student, 5 * student, 25.0, 50.0).item() == pytest.approx(0.0, abs=1e-6)


def test_angle_term_sees_a_changed_shape():
    square = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    line = torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    assert rkd_loss(square, line, 0.0, 1.0).item() > 0


def test_rkd_gets_no_gradient_from_the_teacher_side(teacher_checkpoint):
    model = build_model("resnet8", 10, 1, width=8)
    method = build_method({"name": "rkd", "teacher": str(teacher_checkpoint)}, model, CONTEXT)
    method.train()
    out = method(model, Batch(torch.randn(4, 1, 28, 28), torch.arange(4), torch.arange(4)))
    assert set(out.losses) == {"ce", "rkd"} and out.losses["rkd"].requires_grad
    out.losses["rkd"].backward()
    assert model.layer1[0].conv1.weight.grad.abs().sum() > 0


def test_rkd_recipe_trains_one_epoch_through_the_cli(train_recipe):
    folder = train_recipe("fashion_mnist/baselines/rkd", "model.kwargs={width: 8}")
    record = json.loads((folder / "metrics.jsonl").read_text().splitlines()[0])
    assert record["train_rkd"] > 0
