"""Backbones: taps, channels and strides; a `patchswap train` checkpoint loads tensor by tensor."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from patchswap.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
from patchswap.dense.backbone import build_backbone
from patchswap.errors import CheckpointError, PatchswapError
from patchswap.models import build_model
from patchswap.runs import build_config


def _checkpoint(path: Path, name: str, in_channels: int, seed: int) -> dict[str, torch.Tensor]:
    """A best.pt as the trainer writes it (resolved config, model state_dict) of a randomly
    initialised 10-class `name`, running statistics made random so equality means a copy."""
    torch.manual_seed(seed)
    model = build_model(name, 10, in_channels)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    state = {
        "format": CHECKPOINT_FORMAT,
        "run_id": "test",
        "epoch": 1,
        "config": build_config({"model": {"name": name}}).to_dict(),
        "model": model.state_dict(),
        "metrics": {},
    }
    save_checkpoint(state, path)
    return state["model"]


@pytest.mark.parametrize("in_channels", [1, 3])
def test_resnet8_taps_its_three_stages(in_channels: int) -> None:
    backbone, report = build_backbone("resnet8", in_channels)
    assert report is None
    assert backbone.taps == ("layer1", "layer2", "layer3")
    assert backbone.channels == {"layer1": 16, "layer2": 32, "layer3": 64}
    assert backbone.strides == {"layer1": 1, "layer2": 2, "layer3": 4}
    maps = backbone(torch.zeros(2, in_channels, 64, 64))
    assert list(maps) == ["layer1", "layer2", "layer3"]
    assert maps["layer3"].shape == (2, 64, 16, 16)


def test_torchvision_resnet50_with_a_dilated_last_stage_keeps_stride_16() -> None:
    backbone, _ = build_backbone(
        "tv:resnet50",
        3,
        taps=["layer1", "layer4"],
        replace_stride_with_dilation=[False, False, True],
    )
    assert backbone.taps == ("layer1", "layer4")
    assert backbone.channels == {"layer1": 256, "layer4": 2048}
    assert backbone.strides == {"layer1": 4, "layer4": 16}
    assert backbone(torch.zeros(1, 3, 64, 64))["layer4"].shape == (1, 2048, 4, 4)


def test_torchvision_resnet50_taps_its_four_stages_by_default() -> None:
    backbone, _ = build_backbone("tv:resnet50", 3)
    assert backbone.taps == ("layer1", "layer2", "layer3", "layer4")
    assert backbone.channels == {"layer1": 256, "layer2": 512, "layer3": 1024, "layer4": 2048}
    assert backbone.strides == {"layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}


def test_a_train_checkpoint_loads_by_name_and_shape(tmp_path: Path) -> None:
    # trained on grey images: its first conv has another shape than a 3-channel backbone's
    saved = _checkpoint(tmp_path / "best.pt", "resnet8", in_channels=1, seed=0)
    torch.manual_seed(1)
    fresh, _ = build_backbone("resnet8", 3)
    backbone, _ = build_backbone("resnet8", 3)
    path = str(tmp_path / "best.pt")
    report = backbone.load_checkpoint_weights(path, load_checkpoint(path))
    own = backbone.body.state_dict()

    assert report.mismatched == ("conv1.weight",)
    assert set(report.unused) == {"fc.weight", "fc.bias"}
    assert report.missing == ()
    assert set(report.loaded) == set(own) - {"conv1.weight"}
    for key in ("layer3.0.conv2.weight", "layer2.0.shortcut.0.weight", "bn1.running_mean"):
        assert torch.equal(own[key], saved[key])
        assert not torch.equal(fresh.body.state_dict()[key], saved[key])
    assert own["conv1.weight"].shape == (16, 3, 3, 3)
    text = report.describe()
    assert f"{len(report.loaded)} tensors loaded" in text and "conv1.weight" in text
    assert "fc.weight" in text
    # a run asked to transfer it refuses: it would train on a random stem
    with pytest.raises(CheckpointError, match="conv1.weight has another shape.*data.grayscale"):
        build_backbone("resnet8", 3, weights=path)


def test_a_checkpoint_of_another_architecture_is_one_line(tmp_path: Path) -> None:
    _checkpoint(tmp_path / "best.pt", "resnet14", in_channels=3, seed=0)
    with pytest.raises(CheckpointError, match="'resnet14' model but the backbone is 'resnet8'"):
        build_backbone("resnet8", 3, weights=str(tmp_path / "best.pt"))
    try:
        build_backbone("resnet8", 3, weights=str(tmp_path / "best.pt"))
    except CheckpointError as err:
        assert "\n" not in str(err)


def test_an_unknown_tap_is_one_line_naming_the_stages() -> None:
    with pytest.raises(PatchswapError) as err:
        build_backbone("resnet8", 3, taps=["layer1", "layer9"])
    assert "'layer9'" in str(err.value) and "layer1, layer2, layer3" in str(err.value)
    assert "\n" not in str(err.value)


def test_an_untraceable_model_is_one_line() -> None:
    with pytest.raises(PatchswapError) as err:
        build_backbone("vgg13", 3)
    assert "cannot be cut into a backbone" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "name, kwargs, fix",
    [
        ("tv:resnet18", {"replace_stride_with_dilation": [False, False, True]},
         "pass --unset model.backbone_kwargs"),
        ("tv:resnet34", {"replace_stride_with_dilation": [False, True, True]},
         "--set model.backbone=tv:resnet50"),
    ],
)  # fmt: skip
def test_a_backbone_that_cannot_dilate_is_one_line_naming_the_option(name, kwargs, fix) -> None:
    with pytest.raises(PatchswapError) as err:
        build_backbone(name, 3, taps=["layer1", "layer4"], **kwargs)
    assert "\n" not in str(err.value)
    assert f"backbone {name} cannot be built with model.backbone_kwargs=" in str(err.value)
    assert "Dilation > 1 not supported in BasicBlock" in str(err.value) and fix in str(err.value)


def test_the_voc_recipe_on_resnet18_says_which_option_to_change(
    capsys: pytest.CaptureFixture, tmp_path: Path, scenes_root: Path
) -> None:
    from patchswap.cli import main
    from patchswap.recipes import find_recipe
    from patchswap.runs import load_config

    sets = [
        f"data.root={scenes_root}", "data.name=scenes", "data.sbd_aug=false",
        "data.test=2007/test", "model.backbone=tv:resnet18", f"output_dir={tmp_path}",
    ]  # fmt: skip
    argv = ["train", "voc/deeplabv3plus_r50", *(a for s in sets for a in ("--set", s))]
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "cannot dilate its strides: pass --unset model.backbone_kwargs" in err
    # the option it names is the fix: undilated, the recipe's taps are at strides 4 and 32
    cfg = load_config(find_recipe("voc/deeplabv3plus_r50"), [*sets, "model.backbone_kwargs=!unset"])
    backbone, _ = build_backbone(cfg.model.backbone, 3, cfg.model.taps, **cfg.model.backbone_kwargs)
    assert backbone.strides == {"layer1": 4, "layer4": 32}
