"""KD: 0.1 CE + 0.9 T^2 KL(teacher || student), as RepDistiller computes it."""

import json

import torch
import torch.nn.functional as F

from patchswap.methods import Batch, MethodContext, build_method
from patchswap.models import build_model

CONTEXT = MethodContext(
    num_classes=10, epochs=1, image_size=(28, 28), in_channels=1, num_samples=60
)


def repdistiller_kd(student, teacher, targets, T=4.0):
    """`train_distill` with `-r 0.1 -a 0.9 -b 0`: `DistillKL` sums KL and divides by B."""
    kl = F.kl_div(F.log_softmax(student / T, 1), F.softmax(teacher / T, 1), reduction="sum")
    return 0.1 * F.cross_entropy(student, targets) + 0.9 * kl * T**2 / len(student)


def test_kd_loss_matches_repdistiller(teacher_checkpoint):
    model = build_model("resnet8", 10, 1, width=8)
    method = build_method({"name": "kd", "teacher": str(teacher_checkpoint)}, model, CONTEXT)
    method.train()
    images, targets = torch.randn(5, 1, 28, 28), torch.tensor([0, 3, 3, 7, 9])
    out = method(model, Batch(images, targets, torch.arange(5)))
    assert set(out.losses) == {"ce", "kd"}
    with torch.no_grad():
        teacher = method.teacher(images)
    expected = repdistiller_kd(out.logits, teacher, targets)
    assert torch.allclose(sum(out.losses.values()), expected, atol=1e-6)


def test_kd_on_a_hand_checkable_case(teacher_checkpoint):
    """Two classes, a uniform student and a teacher at `T * ln 3`: `p_t = (3/4, 1/4)`."""
    T = 4.0

    class Fixed(torch.nn.Module):
        def __init__(self, logits):
            super().__init__()
            self.logits = torch.nn.Parameter(torch.tensor([logits]))

        def forward(self, x):
            return self.logits.expand(len(x), -1)

    model = build_model("resnet8", 10, 1, width=4)
    method = build_method({"name": "kd", "teacher": str(teacher_checkpoint)}, model, CONTEXT)
    method.teacher = Fixed([T * torch.log(torch.tensor(3.0)).item(), 0.0])
    student = Fixed([0.0, 0.0])
    out = method(student, Batch(torch.zeros(2, 1, 28, 28), torch.tensor([0, 1]), torch.arange(2)))
    kl = 0.75 * torch.log(torch.tensor(1.5)) + 0.25 * torch.log(torch.tensor(0.5))
    assert torch.allclose(out.losses["ce"], 0.1 * torch.log(torch.tensor(2.0)))
    assert torch.allclose(out.losses["kd"], 0.9 * T * T * kl)


def test_kd_recipe_trains_one_epoch_through_the_cli(train_recipe):
    folder = train_recipe("fashion_mnist/baselines/kd", "model.kwargs={width: 8}")
    summary = json.loads((folder / "summary.json").read_text())
    record = json.loads((folder / "metrics.jsonl").read_text().splitlines()[0])
    assert summary["method"] == "kd" and summary["epochs_done"] == 1
    assert record["train_ce"] > 0 and record["train_kd"] >= 0
