"""TF-KD self: the official loss, `KLDivLoss()` element-mean scaling included."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from patchswap.errors import ConfigError
from patchswap.methods import Batch, MethodContext, build_method
from patchswap.models import build_model

CONTEXT = MethodContext(
    num_classes=10, epochs=1, image_size=(28, 28), in_channels=1, num_samples=60
)


def official_loss_kd_self(outputs, labels, teacher_outputs, alpha=0.95, T=6.0, multiplier=50.0):
    """yuanli2333/Teacher-free-Knowledge-Distillation `my_loss_function.py::loss_kd_self`."""
    loss_ce = F.cross_entropy(outputs, labels)
    d_kl = nn.KLDivLoss()(F.log_softmax(outputs / T, dim=1), F.softmax(teacher_outputs / T, dim=1))
    return (1.0 - alpha) * loss_ce + alpha * d_kl * (T * T) * multiplier


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")  # the point
def test_loss_equals_the_official_code(teacher_checkpoint):
    model = build_model("resnet8", 10, 1, width=4)
    method = build_method(
        {"name": "tf_kd_self", "teacher": str(teacher_checkpoint)}, model, CONTEXT
    )
    method.train()
    images, targets = torch.randn(6, 1, 28, 28), torch.tensor([1, 1, 2, 3, 5, 8])
    out = method(model, Batch(images, targets, torch.arange(6)))
    with torch.no_grad():
        teacher = method.teacher(images)
    expected = official_loss_kd_self(out.logits, targets, teacher)
    assert sum(out.losses.values()).item() == pytest.approx(expected.item(), rel=1e-4)
    # The element mean is the per-sample KL over K: multiplier 50 with K = 10 weighs it by 5.
    assert method.kd_weight == pytest.approx(0.95 * 50 / 10)


def test_teacher_must_be_the_students_architecture(teacher_checkpoint):
    wider = build_model("resnet8", 10, 1, width=8)
    with pytest.raises(ConfigError, match="is not the student's architecture"):
        build_method({"name": "tf_kd_self", "teacher": str(teacher_checkpoint)}, wider, CONTEXT)


def test_tf_kd_self_recipe_trains_one_epoch_through_the_cli(train_recipe):
    folder = train_recipe("fashion_mnist/baselines/tf_kd_self")
    record = json.loads((folder / "metrics.jsonl").read_text().splitlines()[0])
    assert record["train_ce"] > 0 and "train_kd" in record
