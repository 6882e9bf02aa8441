"""Loading a teacher from our own checkpoints, and the teacher-student base behaviour."""

import pytest
import torch

from patchswap.cli import main
from patchswap.errors import CheckpointError, ConfigError
from patchswap.methods import Batch, MethodContext, build_method
from patchswap.methods.teacher import load_teacher
from patchswap.models import build_model

CONTEXT = MethodContext(
    num_classes=10,
    epochs=1,
    image_size=(28, 28),
    in_channels=1,
    num_samples=60,
    train_labels=torch.arange(60) % 10,
)


def test_teacher_is_rebuilt_from_its_config_frozen_and_in_eval_mode(teacher_checkpoint):
    teacher = load_teacher(teacher_checkpoint, CONTEXT)
    saved = torch.load(teacher_checkpoint, weights_only=True)["model"]
    assert not teacher.training
    assert all(not p.requires_grad for p in teacher.parameters())
    for key, value in teacher.state_dict().items():
        assert torch.equal(value, saved[key]), key


def test_a_run_folder_means_its_best_checkpoint(teacher_checkpoint):
    teacher = load_teacher(teacher_checkpoint.parent, CONTEXT)
    assert torch.equal(
        teacher.fc.weight, torch.load(teacher_checkpoint, weights_only=True)["model"]["fc.weight"]
    )


def test_missing_teacher_says_how_to_train_one(tmp_path):
    with pytest.raises(ConfigError, match="does not exist; train one with `patchswap train"):
        load_teacher(tmp_path / "runs" / "nothing" / "best.pt", CONTEXT)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"num_classes": 5}, "predicts 10 classes but this run has 5"),
        ({"in_channels": 3}, "takes 1-channel images but this run has 3"),
    ],
)
def test_teacher_for_another_dataset_is_a_clear_error(teacher_checkpoint, change, message):
    context = MethodContext(**{**CONTEXT.__dict__, **change})
    with pytest.raises(CheckpointError, match=message):
        load_teacher(teacher_checkpoint, context)


def test_file_without_saved_config_is_rejected(tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="holds a state_dict without a run's config"):
        load_teacher(path, CONTEXT)


def test_teacher_option_is_required():
    model = build_model("resnet8", 10, 1, width=4)
    with pytest.raises(ConfigError, match="needs method.teacher=PATH") as err:
        build_method({"name": "kd"}, model, CONTEXT)
    assert "\n" not in str(err.value)


def test_negative_weight_is_rejected(teacher_checkpoint):
    model = build_model("resnet8", 10, 1, width=4)
    with pytest.raises(ConfigError, match="method.alpha=-1.0 must be >= 0"):
        build_method(
            {"name": "kd", "teacher": str(teacher_checkpoint), "alpha": -1}, model, CONTEXT
        )


@pytest.mark.parametrize("name", ["kd", "at", "sp", "rkd", "crd", "tf_kd_self"])
def test_teacher_stays_frozen_and_in_eval_mode(teacher_checkpoint, name):
    model = build_model("resnet8", 10, 1, width=4)
    method = build_method({"name": name, "teacher": str(teacher_checkpoint)}, model, CONTEXT)
    method.train()
    assert method.training and not method.teacher.training
    assert all(not m.training for m in method.teacher.modules())
    trainable = {id(p) for p in method.parameters() if p.requires_grad}
    assert not trainable & {id(p) for p in method.teacher.parameters()}
    running_mean = method.teacher.bn1.running_mean.clone()
    out = method(model, _batch())
    sum(out.losses.values()).backward()
    assert torch.equal(method.teacher.bn1.running_mean, running_mean)
    assert all(p.grad is None for p in method.teacher.parameters())
    assert model.conv1.weight.grad is not None


def _batch():
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(6, 1, 28, 28, generator=generator)
    return Batch(images, torch.tensor([0, 1, 2, 3, 4, 5]), torch.arange(6))


def test_recipe_without_its_teacher_fails_in_one_line(capsys, recipe_argv, tmp_path):
    missing = f"method.teacher={tmp_path}/none.pt"
    assert main(recipe_argv("fashion_mnist/baselines/crd", missing)) == 2
    err = capsys.readouterr().err
    assert "none.pt' does not exist; train one with `patchswap train" in err
    assert err.count("\n") == 1
