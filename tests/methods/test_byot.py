"""BYOT: branch shapes, the loss against a direct computation, heads trained but not exported."""

import pytest
import torch
import torch.nn.functional as F
from recipe_run import assert_resume_continues_the_run, train_recipe_one_epoch
from torch import nn

from patchswap.engine import Trainer
from patchswap.methods import Batch, MethodContext, build_method
from patchswap.methods.byot import hint_loss
from patchswap.methods.features import classifier_of, find_stages
from patchswap.models import available_models, build_model
from patchswap.runs import load_config

CONTEXT = MethodContext(num_classes=10, epochs=1, image_size=(28, 28), in_channels=1)


def make():
    torch.manual_seed(0)
    model = build_model("resnet8", 10, 1)
    return model, build_method({"name": "byot"}, model, CONTEXT)


def test_a_branch_after_every_stage_but_the_last_reaches_the_final_resolution():
    _, method = make()
    assert method.stage_names == ["layer1", "layer2"]  # resnet8: 28 -> 14 -> 7
    strides = [branch.body[3].stride for branch in method.branches]
    assert strides == [(4, 4), (2, 2)]
    widths = [
        (branch.body[0].in_channels, branch.body[6].out_channels) for branch in method.branches
    ]
    assert widths == [(16, 64), (32, 64)]  # to the final stage's width, 64


@pytest.mark.parametrize("name", available_models())
def test_branches_sit_on_the_stage_outputs_of_every_registered_model(name):
    model = build_model(name, 10, 3)
    method = build_method({"name": "byot"}, model, MethodContext(10, 1, (32, 32), 3))
    stages = find_stages(model, 3, (32, 32))
    assert method.stage_names == list(model.stage_names[:-1])  # never the stem
    out = method(model, Batch(torch.randn(2, 3, 32, 32), torch.arange(2), torch.arange(2)))
    assert out.logits.shape == (2, 10)
    width = classifier_of(model)[1].in_features
    for branch, stage, feature_map in zip(
        method.branches, stages, method.tap.features(method.stage_names)
    ):
        assert feature_map.shape[1:] == (stage.channels, *stage.size)
        convs = branch.body[:9](feature_map)  # three conv-BN-ReLU, before pooling
        assert convs.shape == (2, width, *stages[-1].size)  # about the final resolution
        features, logits = branch(feature_map)
        assert features.shape == (2, width) and logits.shape == (2, 10)


def test_branch_convs_start_kaiming_normal_fan_out_as_the_reimplementation():
    _, method = make()
    convs = [m for m in method.branches.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 6
    for conv in convs:
        fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
        assert conv.weight.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.2)


def test_hint_loss_counts_only_where_either_side_is_active():
    features = torch.tensor([[1.0, -1.0, 0.0, -3.0]])
    target = torch.tensor([[0.5, -2.0, 0.0, 2.0]])
    assert hint_loss(features, target).item() == pytest.approx(0.5**2 + 5.0**2)


def test_loss_matches_a_direct_computation():
    model, method = make()
    images, targets = torch.randn(6, 1, 28, 28), torch.arange(6)
    outputs = {}
    hooks = [
        getattr(model, name).register_forward_hook(
            lambda _m, _i, out, name=name: outputs.__setitem__(name, out)
        )
        for name in ("layer1", "layer2", "layer3")
    ]
    out = method(model, Batch(images, targets, torch.arange(6)))
    for hook in hooks:
        hook.remove()
    with torch.no_grad():
        z = out.logits
        final = outputs["layer3"].mean(dim=(2, 3))
        ce, kd, hints = F.cross_entropy(z, targets), 0.0, 0.0
        for branch, name in zip(method.branches, ("layer1", "layer2")):
            features, logits = branch(outputs[name])
            ce = ce + F.cross_entropy(logits, targets)
            p, q = F.softmax(z / 3, dim=1), F.softmax(logits / 3, dim=1)
            kd += 9 * (p * (p / q).log()).sum(dim=1).mean().item()
            hints += ((features - final) ** 2).sum().item()  # both sides are ReLU outputs
    assert out.losses["ce"].item() == pytest.approx(0.9 * ce.item(), rel=1e-5)
    assert out.losses["kd"].item() == pytest.approx(0.1 * kd, rel=1e-4)
    assert out.losses["hint"].item() == pytest.approx(1e-6 * hints, rel=1e-4)


def test_distillation_does_not_move_the_final_classifier():
    model, method = make()
    out = method(model, Batch(torch.randn(4, 1, 28, 28), torch.arange(4), torch.arange(4)))
    out.losses["kd"].backward()
    assert model.fc.weight.grad is None or not model.fc.weight.grad.any()
    assert method.branches[0].fc.weight.grad.abs().sum() > 0


def test_heads_train_with_the_model_but_are_not_part_of_it(tiny_run):
    trainer = Trainer(load_config(None, tiny_run("method=byot")), quiet=True)
    optimized = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    branch_params = list(trainer.method.branches.parameters())
    assert branch_params and all(id(p) in optimized for p in branch_params)
    plain = build_model("resnet8", 10, 1, width=4)
    assert trainer.model.state_dict().keys() == plain.state_dict().keys()
    assert any(key.startswith("branches.") for key in trainer.method.state_dict())


def test_recipe_trains_one_epoch(tiny_run, tmp_path):
    record = train_recipe_one_epoch(
        "fashion_mnist/baselines/byot", tiny_run("epochs=1"), tmp_path / "runs" / "tiny"
    )
    assert record["train_kd"] > 0 and record["train_hint"] > 0


def test_resumed_run_continues_with_the_same_heads(tiny_run, tmp_path):
    assert_resume_continues_the_run("fashion_mnist/baselines/byot", tiny_run, tmp_path / "runs")
