"""The cutout, cutmix and mixup methods: one step by hand, options, and a CLI training smoke."""

import json

import pytest
import torch
from recipe_run import train_recipe_one_epoch
from torch import nn

from patchswap.augment import CutMix, Cutout, MixUp, mixed_cross_entropy
from patchswap.errors import PatchswapError
from patchswap.methods import Batch, MethodContext, build_method

CONTEXT = MethodContext(num_classes=4, epochs=1, image_size=(8, 8), in_channels=1)


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 4))


@pytest.mark.parametrize(
    "spec, augment",
    [
        ({"name": "cutout", "length": 4, "reference_size": 8}, Cutout(4, reference_size=8)),
        ({"name": "cutmix", "prob": 1.0}, CutMix(prob=1.0)),
        ({"name": "mixup", "alpha": 0.4}, MixUp(alpha=0.4)),
    ],
)
def test_step_is_hard_label_on_the_augmented_batch(spec, augment):
    net = model()
    method = build_method(spec, net, CONTEXT)
    assert method.options == augment and not method.paired
    images, targets = torch.randn(6, 1, 8, 8), torch.tensor([0, 1, 2, 3, 0, 1])
    torch.manual_seed(1)
    out = method(net, Batch(images, targets, torch.arange(6)))
    torch.manual_seed(1)
    mixed = augment(images, targets)
    expected = mixed_cross_entropy(net(mixed.images), mixed.targets_a, mixed.targets_b, mixed.lam)
    assert list(out.losses) == ["ce"] and torch.equal(out.losses["ce"], expected)
    assert torch.equal(out.targets, targets) and not torch.equal(mixed.images, images)


def test_cutmix_without_a_cut_is_hard_label():
    net = model()
    images, targets = torch.randn(6, 1, 8, 8), torch.tensor([0, 1, 2, 3, 0, 1])
    batch = Batch(images, targets, torch.arange(6))
    cutmix = build_method({"name": "cutmix", "prob": 0.0}, net, CONTEXT)
    hard = build_method({"name": "hard_label"}, net, CONTEXT)
    assert torch.equal(cutmix(net, batch).losses["ce"], hard(net, batch).losses["ce"])


def test_bad_option_is_one_line():
    with pytest.raises(PatchswapError, match=r"unknown key method\.alpha .*valid keys: beta, prob"):
        build_method({"name": "cutmix", "alpha": 1.0}, model(), CONTEXT)


@pytest.mark.parametrize("recipe", ["cutout", "cutmix", "mixup"])
def test_trains_one_epoch_from_its_recipe(tiny_run, tmp_path, recipe):
    folder = tmp_path / "runs" / "tiny"
    record = train_recipe_one_epoch(f"fashion_mnist/augment/{recipe}", tiny_run("epochs=1"), folder)
    assert record["train_ce"] > 0
    assert json.loads((folder / "summary.json").read_text())["method"] == recipe
