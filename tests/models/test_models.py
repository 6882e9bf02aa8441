"""Tests for patchswap.models: shapes, reference parameter counts, options and errors."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from patchswap.errors import PatchswapError
from patchswap.models import available_models, build_model, replace_first_conv

EXPECTED_NAMES = {
    "resnet18", "resnet34", "resnet50", "resnet101",
    "resnet8", "resnet14", "resnet20", "resnet32", "resnet8x4", "resnet32x4",
    "vgg13", "vgg16", "shufflenetv1", "shufflenetv2", "mobilenetv2",
}  # fmt: skip

# Parameter counts for 100 classes. kuangliu/pytorch-cifar models/resnet.py (BasicBlock
# ResNet18/34, Bottleneck ResNet50/101); RepDistiller models/resnet.py, vgg.py,
# ShuffleNetv1.py, ShuffleNetv2.py, mobilenetv2.py (the CRD paper's 7.43M / 1.23M / 9.46M /
# 0.95M / 1.36M / 0.81M ...). Each was also checked by loading a state dict from a
# transcription of the reference code and comparing logits.
REFERENCE_PARAMS_100 = {
    "resnet18": 11_220_132,
    "resnet34": 21_328_292,
    "resnet50": 23_705_252,
    "resnet101": 42_697_380,
    "resnet8": 83_892,
    "resnet14": 181_108,
    "resnet20": 278_324,
    "resnet32": 472_756,
    "resnet8x4": 1_233_540,
    "resnet32x4": 7_433_860,
    "vgg13": 9_462_180,
    "vgg16": 14_774_436,
    "shufflenetv1": 949_258,
    "shufflenetv2": 1_355_528,
    "mobilenetv2": 812_836,
}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(x)


def test_available_models_lists_registry() -> None:
    names = available_models()
    assert set(names) == EXPECTED_NAMES
    assert names == sorted(names)


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_builds_and_maps_cifar_and_fmnist_shapes(name: str) -> None:
    torch.manual_seed(0)
    rgb = build_model(name, num_classes=10)
    assert logits(rgb, torch.randn(2, 3, 32, 32)).shape == (2, 10)
    gray = build_model(name, num_classes=7, in_channels=1)
    out = logits(gray, torch.randn(2, 1, 28, 28))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(REFERENCE_PARAMS_100))
def test_parameter_counts_match_references(name: str) -> None:
    assert n_params(build_model(name, 100)) == REFERENCE_PARAMS_100[name]


def test_kuangliu_resnet18_ten_classes() -> None:
    # 11,173,962 is the commonly quoted CIFAR-10 ResNet-18 size.
    assert n_params(build_model("resnet18", 10)) == 11_173_962


def test_train_mode_backward() -> None:
    model = build_model("resnet8", 10)
    model.train()
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_stages_are_named_submodules_for_hooks() -> None:
    model = build_model("resnet8", 10)
    seen: dict[str, tuple[int, ...]] = {}
    for stage in ("layer1", "layer2", "layer3", "fc"):
        model.get_submodule(stage).register_forward_hook(
            lambda _m, _i, out, stage=stage: seen.__setitem__(stage, tuple(out.shape))
        )
    logits(model, torch.randn(2, 3, 32, 32))
    assert seen == {
        "layer1": (2, 16, 32, 32),
        "layer2": (2, 32, 16, 16),
        "layer3": (2, 64, 8, 8),
        "fc": (2, 10),
    }
    assert isinstance(build_model("resnet18", 10).get_submodule("layer4"), nn.Sequential)
    assert isinstance(build_model("resnet18", 10).get_submodule("linear"), nn.Linear)
    assert isinstance(build_model("vgg13", 10).get_submodule("classifier"), nn.Linear)


def test_width_option_scales_small_resnets() -> None:
    base = build_model("resnet8", 10, 1)
    wide = build_model("resnet8", 10, 1, width=32)
    assert n_params(wide) > n_params(base)
    assert wide.get_submodule("conv1").out_channels == 32
    assert wide.get_submodule("fc").in_features == 128  # [32, 32, 64, 128]
    assert logits(wide, torch.randn(2, 1, 28, 28)).shape == (2, 10)
    # The default width reproduces the reference; x4 models keep their [1, 2, 4, 8] ratios.
    assert n_params(build_model("resnet8x4", 100, width=32)) == REFERENCE_PARAMS_100["resnet8x4"]
    assert build_model("resnet8x4", 10, width=16).get_submodule("fc").in_features == 128


def test_bad_width_is_patchswap_error() -> None:
    with pytest.raises(PatchswapError, match="width"):
        build_model("resnet8", 10, width=0)


def test_unknown_option_lists_accepted_ones() -> None:
    with pytest.raises(PatchswapError, match="no option.*width.*options: none"):
        build_model("vgg13", 10, width=32)
    with pytest.raises(PatchswapError, match="options: width"):
        build_model("resnet20", 10, depth=3)


def test_bad_num_classes_or_channels() -> None:
    with pytest.raises(PatchswapError, match="num_classes"):
        build_model("resnet8", 0)
    with pytest.raises(PatchswapError, match="in_channels"):
        build_model("resnet8", 10, in_channels=0)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(PatchswapError) as info:
        build_model("resnet9000", 10)
    message = str(info.value)
    assert "resnet9000" in message
    assert "\n" not in message
    for name in [*EXPECTED_NAMES, "tv:<torchvision name>", "timm:<timm name>"]:
        assert name in message


def test_vgg_tiny_imagenet_path_and_imagenet_size() -> None:
    assert logits(build_model("vgg13", 5), torch.randn(1, 3, 64, 64)).shape == (1, 5)
    assert logits(build_model("resnet8", 5), torch.randn(1, 3, 224, 224)).shape == (1, 5)


def test_shufflenetv2_net_size_option() -> None:
    small = build_model("shufflenetv2", 10, net_size=0.5)
    assert n_params(small) < n_params(build_model("shufflenetv2", 10))
    with pytest.raises(PatchswapError, match="net_size"):
        build_model("shufflenetv2", 10, net_size=0.7)


def test_torchvision_model_with_one_channel() -> None:
    model = build_model("tv:resnet18", 10, in_channels=1)
    conv = model.get_submodule("conv1")
    assert conv.in_channels == 1
    assert (conv.out_channels, conv.kernel_size, conv.stride, conv.padding) == (
        64, (7, 7), (2, 2), (3, 3),
    )  # fmt: skip
    assert logits(model, torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_unknown_torchvision_name_suggests_close_matches() -> None:
    with pytest.raises(PatchswapError, match=r"unknown torchvision model.*tv:resnet18"):
        build_model("tv:resnet1B", 10)


def test_hub_refuses_pretrained_weights() -> None:
    with pytest.raises(PatchswapError, match="pretrained weights"):
        build_model("tv:resnet18", 10, weights="DEFAULT")


def test_replace_first_conv_keeps_hyper_parameters() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 5, stride=2, padding=1, dilation=2, bias=True))
    replace_first_conv(model, 4)
    conv = model[0]
    assert isinstance(conv, nn.Conv2d)
    assert (conv.in_channels, conv.out_channels, conv.kernel_size) == (4, 8, (5, 5))
    assert (conv.stride, conv.padding, conv.dilation) == ((2, 2), (1, 1), (2, 2))
    assert conv.bias is not None


def test_timm_model() -> None:
    pytest.importorskip("timm")
    model = build_model("timm:resnet18", 10, in_channels=1)
    assert logits(model, torch.randn(2, 1, 32, 32)).shape == (2, 10)
    with pytest.raises(PatchswapError, match="unknown timm model"):
        build_model("timm:resnet18zz", 10)


def test_timm_missing_says_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)  # makes `import timm` raise ImportError
    with pytest.raises(PatchswapError, match="pip install timm"):
        build_model("timm:resnet18", 10)
