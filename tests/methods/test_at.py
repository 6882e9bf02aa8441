"""AT: normalized spatial attention maps of paired stages, RepDistiller weights."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from patchswap.methods import Batch, MethodContext, build_method
from patchswap.methods.at import attention_loss, attention_map, paired_stages
from patchswap.methods.features import Stage
from patchswap.models import build_model

CONTEXT = MethodContext(
    num_classes=10, epochs=1, image_size=(28, 28), in_channels=1, num_samples=60
)


def test_attention_loss_on_a_hand_checkable_case():
    # Student map mean_c(f^2) = [1, 0]; teacher [0, 4] -> normalized [0, 1]; mean((1,-1)^2) = 1.
    student = torch.tensor([[[[1.0, 0.0]], [[-1.0, 0.0]]]])  # (1, 2 channels, 1, 2)
    teacher = torch.tensor([[[[0.0, 2.0]]]])
    assert torch.allclose(attention_map(student, 2), torch.tensor([[1.0, 0.0]]))
    assert attention_loss(student, teacher, 2).item() == pytest.approx(1.0)
    # p = 1 keeps the sign: the student map becomes [0, 0] and contributes nothing.
    assert attention_loss(student, teacher, 1).item() == pytest.approx(0.5)


def _stages(*sizes):
    return [Stage(f"s{size}", 8, (size, size)) for size in sizes]


def test_stages_pair_from_the_end():
    pairs = paired_stages(_stages(32, 16, 8), _stages(64, 32, 16, 8))
    assert [(s.name, t.name) for s, t in pairs] == [("s32", "s32"), ("s16", "s16"), ("s8", "s8")]


def test_the_larger_map_is_average_pooled_to_the_smaller_as_repdistiller_does():
    big = torch.rand(2, 3, 8, 8)
    small = torch.rand(2, 5, 4, 4)
    pooled = F.adaptive_avg_pool2d(big, (4, 4))
    expected = attention_loss(pooled, small, 2.0)
    assert attention_loss(big, small, 2.0).item() == pytest.approx(expected.item())
    assert attention_loss(small, big, 2.0).item() == pytest.approx(expected.item())


def test_a_vgg_student_is_matched_on_its_blocks_after_a_pooling(teacher_checkpoint):
    # The resnet8 teacher has three stages (28, 14, 7): they pair with VGG's last three.
    model = build_model("vgg13", 10, 1)
    method = build_method({"name": "at", "teacher": str(teacher_checkpoint)}, model, CONTEXT)
    student_watch, teacher_watch = method._watches
    assert student_watch.names == ["block2", "block3", "block4"]
    assert teacher_watch.names == ["layer1", "layer2", "layer3"]
    method.train()
    out = method(model, Batch(torch.randn(4, 1, 28, 28), torch.arange(4), torch.arange(4)))
    assert math.isfinite(out.losses["at"].item()) and out.losses["at"].item() > 0


def test_at_loss_sums_stages_of_student_and_teacher(teacher_checkpoint):
    model = build_model("resnet8", 10, 1, width=8)
    method = build_method({"name": "at", "teacher": str(teacher_checkpoint)}, model, CONTEXT)
    images = torch.randn(4, 1, 28, 28)
    method.train()
    out = method(model, Batch(images, torch.tensor([0, 1, 2, 3]), torch.arange(4)))
    assert set(out.losses) == {"ce", "at"}

    def stage_outputs(net):
        layers = [net.layer1, net.layer2, net.layer3]
        x = torch.relu(net.bn1(net.conv1(images)))
        outputs = []
        for layer in layers:
            x = layer(x)
            outputs.append(x)
        return outputs

    model.train()
    with torch.no_grad():
        expected = sum(
            attention_loss(s, t, 2.0)
            for s, t in zip(stage_outputs(model), stage_outputs(method.teacher))
        )
    assert out.losses["at"].item() == pytest.approx(1000 * expected.item(), rel=1e-4)
    assert math.isfinite(out.losses["ce"].item())


def test_at_recipe_trains_one_epoch_through_the_cli(train_recipe):
    folder = train_recipe("fashion_mnist/baselines/at", "model.kwargs={width: 8}")
    record = json.loads((folder / "metrics.jsonl").read_text().splitlines()[0])
    assert record["train_at"] > 0 and "train_kd" not in record
