"""CRD: embeddings, memory banks, NCE in both directions, momentum updates, checkpoints."""

import io
import json
import math

import pytest
import torch
import torch.nn.functional as F

from patchswap.cli import main
from patchswap.errors import ConfigError
from patchswap.methods import Batch, MethodContext, build_method
from patchswap.methods.crd import nce_loss, update_memory
from patchswap.models import build_model

N = 6
LABELS = torch.tensor([0, 0, 1, 1, 2, 2])
CONTEXT = MethodContext(
    num_classes=10,
    epochs=1,
    image_size=(28, 28),
    in_channels=1,
    num_samples=N,
    train_labels=LABELS,
)


def _crd(teacher_checkpoint, **options):
    model = build_model("resnet8", 10, 1, width=8)
    spec = {"name": "crd", "teacher": str(teacher_checkpoint), **options}
    return model, build_method(spec, model, CONTEXT).train()


def _batch(indices):
    indices = torch.tensor(indices)
    return Batch(torch.randn(len(indices), 1, 28, 28), indices % 10, indices)


def test_nce_loss_on_a_hand_checkable_case():
    # One positive and one negative, both scored 1, noise K/N = 1: -(ln 1/2 + ln 1/2).
    assert nce_loss(torch.tensor([[1.0, 1.0]]), 1).item() == pytest.approx(2 * math.log(2))


def test_memory_moves_with_momentum_then_is_renormalized():
    memory = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    update_memory(memory, torch.tensor([0]), torch.tensor([[0.0, 1.0]]), 0.5)
    assert torch.allclose(memory[0], torch.tensor([1.0, 1.0]) / math.sqrt(2))
    assert torch.equal(memory[1:], torch.tensor([[0.0, 1.0], [0.6, 0.8]]))


def test_state_is_initialized_as_repdistiller_does(teacher_checkpoint):
    _, method = _crd(teacher_checkpoint)
    bound = 1 / math.sqrt(128 / 3)
    for memory in (method.memory_student, method.memory_teacher):
        assert memory.shape == (N, 128) and memory.abs().max() <= bound
    assert method.embed_student.in_features == 32 and method.embed_teacher.in_features == 16
    trainable = {name for name, p in method.named_parameters() if p.requires_grad}
    assert trainable == {
        f"embed_{who}.{p}" for who in ("student", "teacher") for p in ("weight", "bias")
    }
    assert method.num_negatives == 16384


def test_negatives_come_from_the_other_classes_uniformly(teacher_checkpoint):
    _, method = _crd(teacher_checkpoint, nce_k=600)
    anchors = torch.arange(N).repeat(10)
    rows = method.sample_rows(anchors)
    assert rows.shape == (60, 601) and torch.equal(rows[:, 0], anchors)
    negatives = rows[:, 1:]
    assert (LABELS[negatives] != LABELS[anchors][:, None]).all()  # never the anchor's class
    for anchor in range(N):  # each of the 4 other-class samples about 1/4 of the time
        others = [j for j in range(N) if LABELS[j] != LABELS[anchor]]
        counts = torch.bincount(negatives[anchors == anchor].flatten(), minlength=N)[others]
        assert (counts.float() / counts.sum() - 0.25).abs().max() < 0.05


def test_one_step_matches_the_reference_computation(teacher_checkpoint):
    model, method = _crd(teacher_checkpoint, nce_k=2)
    rows = torch.tensor([[0, 4, 5], [3, 1, 2]])
    method.sample_rows = lambda index: rows
    embeddings = {}
    for key, net in (("student", model), ("teacher", method.teacher)):
        net.fc.register_forward_pre_hook(lambda m, x, key=key: embeddings.__setitem__(key, x[0]))
    memory_student, memory_teacher = method.memory_student.clone(), method.memory_teacher.clone()
    out = method(model, _batch([0, 3]))

    v_s = F.normalize(method.embed_student(embeddings["student"]))
    v_t = F.normalize(method.embed_teacher(embeddings["teacher"]))

    def reference_nce(memory, anchors):  # ContrastMemory scores + ContrastLoss
        scores = torch.exp(torch.bmm(memory[rows], anchors[:, :, None]).squeeze(2) / 0.07)
        scores = scores / (scores.mean() * N)
        noise = 2 / N
        d1 = torch.log(scores[:, 0] / (scores[:, 0] + noise + 1e-7))
        d0 = torch.log(noise / (scores[:, 1:] + noise + 1e-7))
        return -(d1.sum() + d0.sum()) / 2

    expected = 0.8 * (reference_nce(memory_teacher, v_s) + reference_nce(memory_student, v_t))
    assert out.losses["crd"].item() == pytest.approx(expected.item(), rel=1e-5)
    moved = F.normalize(0.5 * memory_student[[0, 3]] + 0.5 * v_s.detach())
    assert torch.allclose(method.memory_student[[0, 3]], moved, atol=1e-6)
    untouched = [1, 2, 4, 5]
    assert torch.equal(method.memory_teacher[untouched], memory_teacher[untouched])


def test_z_is_fixed_by_the_first_batch_and_everything_survives_a_checkpoint(teacher_checkpoint):
    model, method = _crd(teacher_checkpoint)
    assert (method.z < 0).all()
    method(model, _batch([0, 1, 2]))
    z = method.z.clone()
    assert (z > 0).all()
    method(model, _batch([3, 4, 5]))
    assert torch.equal(method.z, z)

    buffer = io.BytesIO()
    torch.save(method.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    torch.manual_seed(123)
    _, restored = _crd(teacher_checkpoint)
    assert not torch.equal(restored.memory_student, method.memory_student)
    restored.load_state_dict(state)
    for name in ("memory_student", "memory_teacher", "z", "embed_student.weight"):
        assert torch.equal(restored.state_dict()[name], method.state_dict()[name]), name


def test_bad_momentum_is_a_config_error(teacher_checkpoint):
    with pytest.raises(ConfigError, match="method.nce_m=1.0 must be < 1"):
        _crd(teacher_checkpoint, nce_m=1.0)


def test_crd_recipe_trains_one_epoch_through_the_cli(train_recipe):
    folder = train_recipe("fashion_mnist/baselines/crd", "model.kwargs={width: 8}")
    record = json.loads((folder / "metrics.jsonl").read_text().splitlines()[0])
    assert record["train_crd"] > 0


def test_resumed_crd_run_equals_an_uninterrupted_one(train_recipe):
    """Memory banks, Z and the sampler's RNG all travel in last.pt (constant lr, so 1 + 1 = 2)."""
    constant = "schedule.name=constant"
    full = train_recipe("fashion_mnist/baselines/crd", "epochs=2", constant, name="full")
    part = train_recipe("fashion_mnist/baselines/crd", "epochs=1", constant, name="part")
    assert main(["train", "--resume", str(part), "--set", "epochs=2", "--quiet"]) == 0
    a, b = (torch.load(f / "last.pt", weights_only=True) for f in (full, part))
    assert a["epoch"] == b["epoch"] == 2
    for key in ("memory_student", "memory_teacher", "z", "embed_teacher.weight"):
        assert torch.equal(a["method"][key], b["method"][key]), key
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
