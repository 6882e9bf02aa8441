"""Dense heads on backbones: output shapes, gradients, SSD losses/detections and SSD300 maps."""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import pytest
import torch
from torchvision.models.detection.image_list import ImageList

from patchswap.dense.backbone import build_backbone
from patchswap.dense.heads import (
    DETECTION_MODELS,
    SEGMENTATION_MODELS,
    build_detection_model,
    build_segmentation_model,
)
from patchswap.dense.heads.pspnet import AUX_WEIGHT
from patchswap.dense.heads.ssd import (
    SSD300_SIZES,
    extra_block_plan,
    keep_resolution,
    ssd_aspect_ratios,
)
from patchswap.errors import PatchswapError
from patchswap.recipes import find_recipe
from patchswap.runs import load_config

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _one_line(err: pytest.ExceptionInfo, *parts: str) -> None:
    assert "\n" not in str(err.value)
    for part in parts:
        assert part in str(err.value)


def _first_conv_grad(backbone) -> torch.Tensor:
    return backbone.body.get_submodule("conv1").weight.grad


@pytest.mark.parametrize("name", SEGMENTATION_MODELS)
@pytest.mark.parametrize("in_channels", [1, 3])
def test_segmentation_logits_have_the_input_size_and_train_the_backbone(
    name: str, in_channels: int
) -> None:
    torch.manual_seed(0)
    backbone, _ = build_backbone("resnet8", in_channels)
    model = build_segmentation_model(name, backbone, 11)
    images = torch.randn(2, in_channels, 32, 32)
    keys = {"out", "aux"} if name == "pspnet" else {"out"}

    out = model(images)
    assert set(out) == keys
    assert all(v.shape == (2, 11, 32, 32) for v in out.values())
    sum(v.square().mean() for v in out.values()).backward()
    grad = _first_conv_grad(backbone)
    assert grad is not None and grad.abs().sum() > 0

    model.eval()
    with torch.no_grad():
        assert {k: v.shape for k, v in model(images).items()} == dict.fromkeys(
            keys, (2, 11, 32, 32)
        )


def test_segmentation_on_a_dilated_torchvision_resnet50() -> None:
    backbone, _ = build_backbone(
        "tv:resnet50",
        3,
        taps=["layer1", "layer3", "layer4"],
        replace_stride_with_dilation=[False, False, True],
    )
    images = torch.randn(2, 3, 64, 48)
    for name, keys in (("deeplabv3plus", {"out"}), ("pspnet", {"out", "aux"})):
        model = build_segmentation_model(name, backbone, 21)
        with torch.no_grad():
            out = model(images)
        assert {k: v.shape for k, v in out.items()} == dict.fromkeys(keys, (2, 21, 64, 48))


def test_deeplab_joins_maps_of_any_stride_ratio_and_takes_atrous_rates() -> None:
    backbone, _ = build_backbone("resnet8", 3, taps=["layer2", "layer3"])  # strides 2 and 4
    model = build_segmentation_model("deeplabv3plus", backbone, 5, atrous_rates=[12, 24, 36])
    assert model.low == "layer2" and model.high == "layer3"
    dilations = [m.dilation[0] for m in model.aspp.modules() if isinstance(m, torch.nn.Conv2d)]
    assert sorted(set(dilations)) == [1, 12, 24, 36]
    assert model(torch.randn(2, 3, 40, 40))["out"].shape == (2, 5, 40, 40)
    with pytest.raises(PatchswapError) as err:
        build_segmentation_model("deeplabv3plus", backbone, 5, atrous_rates=[6, 12])
    _one_line(err, "atrous_rates", "three positive integers")


def test_pspnet_weights_its_auxiliary_head_as_mmseg() -> None:
    assert AUX_WEIGHT == 0.4
    backbone, _ = build_backbone("resnet8", 3, taps=["layer2", "layer3"])
    model = build_segmentation_model("pspnet", backbone, 5)
    # mmseg's heads drop whole channels (Dropout2d), the PSP head and the FCN auxiliary alike
    assert isinstance(model.dropout, torch.nn.Dropout2d)
    assert [type(m) for m in model.aux if isinstance(m, torch.nn.Dropout)] == []
    assert isinstance(model.aux[3], torch.nn.Dropout2d) and model.aux[3].p == 0.1
    backbone, _ = build_backbone("resnet8", 3, taps=["layer3"])
    with pytest.raises(PatchswapError) as err:
        build_segmentation_model("pspnet", backbone, 5)
    _one_line(err, "two backbone taps")


def test_unknown_segmentation_name_or_option_is_one_line() -> None:
    backbone, _ = build_backbone("resnet8", 3)
    with pytest.raises(PatchswapError) as err:
        build_segmentation_model("unet", backbone, 5)
    _one_line(err, "'unet'", "deeplabv3plus, pspnet")
    with pytest.raises(PatchswapError) as err:
        build_segmentation_model("pspnet", backbone, 5, atrous_rates=[6, 12, 18])
    _one_line(err, "atrous_rates", "its options: none")
    with pytest.raises(PatchswapError) as err:
        build_segmentation_model("deeplabv3plus", backbone, 5, output_stride=8)
    _one_line(err, "output_stride", "its options: atrous_rates")


def _targets() -> list[dict[str, torch.Tensor]]:
    """Two images: one object, and none (all default boxes background)."""
    return [
        {
            "boxes": torch.tensor([[6.0, 10.0, 40.0, 44.0]]),
            "labels": torch.tensor([3]),
            "difficult": torch.tensor([False]),
        },
        {
            "boxes": torch.zeros(0, 4),
            "labels": torch.zeros(0, dtype=torch.int64),
            "difficult": torch.zeros(0, dtype=torch.bool),
        },
    ]


@pytest.mark.parametrize("in_channels", [1, 3])
def test_ssd_trains_and_detects_on_small_scenes(in_channels: int) -> None:
    torch.manual_seed(0)
    backbone, _ = build_backbone("resnet8", in_channels)  # layer3: 16 x 16 at 64
    mean, std = (MEAN, STD) if in_channels == 3 else ([0.5], [0.25])
    model = build_detection_model("ssd", backbone, 11, 64, mean, std)
    assert model.backbone.sizes == (16, 8, 4, 2)
    assert model.anchor_generator.aspect_ratios == [[2], [2, 3], [2], [2]]
    images = [torch.rand(in_channels, 64, 64) for _ in range(2)]

    losses = model(images, _targets())
    assert set(losses) == {"bbox_regression", "classification"}
    assert all(math.isfinite(v.item()) for v in losses.values())
    sum(losses.values()).backward()
    assert _first_conv_grad(backbone).abs().sum() > 0

    model.eval()
    with torch.no_grad():
        detections = model(images)
    assert len(detections) == 2
    for found in detections:
        assert set(found) == {"boxes", "scores", "labels"}
        assert len(found["boxes"]) > 0
        assert found["boxes"].min() >= 0 and found["boxes"].max() <= 64
        assert found["labels"].min() >= 1 and found["labels"].max() <= 10


def test_ssd300_on_resnet50_with_kept_resolution_has_the_reference_maps_and_boxes() -> None:
    backbone, _ = build_backbone("tv:resnet50", 3, taps=["layer2", "layer3"])
    assert backbone.strides["layer3"] == 16
    model = build_detection_model("ssd", backbone, 21, 300, MEAN, STD, keep_resolution=True)
    assert backbone.strides == {"layer2": 8, "layer3": 8}
    assert model.backbone.sizes == SSD300_SIZES
    assert model.backbone.out_channels == [1024, 512, 512, 256, 256, 256]
    assert model.anchor_generator.scales == [0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05]  # coco

    model.eval()
    images = torch.zeros(1, 3, 300, 300)
    with torch.no_grad():
        maps = list(model.backbone(images).values())
    assert [m.shape[-1] for m in maps] == list(SSD300_SIZES)
    boxes = model.anchor_generator(ImageList(images, [(300, 300)]), maps)
    assert boxes[0].shape == (8732, 4)
    # the train-mode graph of the backbone runs the same, changed, modules
    backbone.train()
    with torch.no_grad():
        assert backbone(torch.zeros(2, 3, 64, 64))["layer3"].shape[-1] == 8


# ssd.pytorch data/config.py: `voc` and `coco` (feature maps, steps and ratios are shared)
SSD_PYTORCH = {
    "voc": {
        "min_sizes": [30, 60, 111, 162, 213, 264],
        "max_sizes": [60, 111, 162, 213, 264, 315],
    },
    "coco": {
        "min_sizes": [21, 45, 99, 153, 207, 261],
        "max_sizes": [45, 99, 153, 207, 261, 315],
    },
}
SSD_PYTORCH_SHARED = {
    "feature_maps": [38, 19, 10, 5, 3, 1],
    "min_dim": 300,
    "steps": [8, 16, 32, 64, 100, 300],
    "aspect_ratios": [[2], [2, 3], [2, 3], [2, 3], [2], [2]],
    "clip": True,
}


def prior_box(cfg: dict) -> np.ndarray:
    """ssd.pytorch layers/functions/prior_box.py `PriorBox.forward`, transcribed (float64):
    (cx, cy, w, h) per default box, relative to the image, in the reference's order."""
    mean = []
    for k, f in enumerate(cfg["feature_maps"]):
        for i, j in product(range(f), repeat=2):
            f_k = cfg["min_dim"] / cfg["steps"][k]
            # unit center x,y
            cx = (j + 0.5) / f_k
            cy = (i + 0.5) / f_k
            # aspect_ratio: 1, rel size: min_size
            s_k = cfg["min_sizes"][k] / cfg["min_dim"]
            mean += [cx, cy, s_k, s_k]
            # aspect_ratio: 1, rel size: sqrt(s_k * s_(k+1))
            s_k_prime = math.sqrt(s_k * (cfg["max_sizes"][k] / cfg["min_dim"]))
            mean += [cx, cy, s_k_prime, s_k_prime]
            # rest of aspect ratios
            for ar in cfg["aspect_ratios"][k]:
                mean += [cx, cy, s_k * math.sqrt(ar), s_k / math.sqrt(ar)]
                mean += [cx, cy, s_k / math.sqrt(ar), s_k * math.sqrt(ar)]
    output = np.array(mean, dtype=np.float64).reshape(-1, 4)
    if cfg["clip"]:
        output = output.clip(min=0, max=1)
    return output


@pytest.mark.parametrize("box_sizes", ["voc", "coco"])
def test_ssd300_default_boxes_are_ssd_pytorchs_prior_boxes(box_sizes: str) -> None:
    # a resnet18 with layer3 kept at stride 8 gives SSD300's 38-19-10-5-3-1 maps cheaply
    backbone, _ = build_backbone("tv:resnet18", 3, taps=["layer3"])
    model = build_detection_model(
        "ssd", backbone, 21, 300, MEAN, STD,
        keep_resolution=True, extra_width=0.25, box_sizes=box_sizes,
    )  # fmt: skip
    assert model.backbone.sizes == SSD300_SIZES
    model.eval()
    images = torch.zeros(1, 3, 300, 300)
    with torch.no_grad():
        maps = list(model.backbone(images).values())
    # the project's boxes: torchvision's anchors, XYXY in pixels, one location after another
    ours = model.anchor_generator(ImageList(images, [(300, 300)]), maps)[0].double() / 300
    ref = prior_box({**SSD_PYTORCH_SHARED, **SSD_PYTORCH[box_sizes]})
    ref_xyxy = np.concatenate([ref[:, :2] - ref[:, 2:] / 2, ref[:, :2] + ref[:, 2:] / 2], 1)
    assert ours.shape == (8732, 4)
    np.testing.assert_allclose(ours.numpy(), ref_xyxy, rtol=0, atol=1e-6)
    # what the clamp of centres changes: the 10x10 map's last row and column, 19 x 6 boxes
    unclamped = prior_box({**SSD_PYTORCH_SHARED, **SSD_PYTORCH[box_sizes], "clip": False})
    assert (unclamped[:, :2] > 1).any(axis=1).sum() == 114


def test_the_voc_ssd300_recipe_takes_vocs_box_sizes() -> None:
    assert load_config(find_recipe("voc/ssd300_r50")).model.options["box_sizes"] == "voc"
    assert "box_sizes" not in load_config(find_recipe("scenes/ssd_resnet8")).model.options


def test_extra_blocks_and_aspect_ratios_follow_the_documented_rule() -> None:
    assert [s for *_, s in extra_block_plan(38)] == [19, 10, 5, 3, 1]
    assert [(st, p) for st, p, _ in extra_block_plan(38)] == [(2, 1)] * 3 + [(1, 0)] * 2
    assert [s for *_, s in extra_block_plan(19)] == [10, 5, 3, 1]
    assert [s for *_, s in extra_block_plan(16)] == [8, 4, 2]
    assert [s for *_, s in extra_block_plan(128)] == [64, 32, 16, 8, 4]  # NVIDIA's 5 at most
    assert extra_block_plan(2) == []
    assert ssd_aspect_ratios(6) == [[2], [2, 3], [2, 3], [2, 3], [2], [2]]
    assert ssd_aspect_ratios(1) == [[2]]


def test_keep_resolution_strides_a_stage_or_block_1_and_refuses_one_that_does_not_stride() -> None:
    backbone, _ = build_backbone("resnet8", 3)
    keep_resolution(backbone, "layer3")
    assert backbone.strides == {"layer1": 1, "layer2": 2, "layer3": 2}
    with pytest.raises(PatchswapError) as err:
        keep_resolution(backbone, "layer1")
    _one_line(err, "'layer1'", "leave keep_resolution off")
    block, _ = build_backbone("resnet8", 3, taps=["layer2", "layer3.0"])  # a tap on one block
    keep_resolution(block, "layer3.0")
    assert block.strides == {"layer2": 2, "layer3.0": 2}


def test_unknown_detection_name_option_or_normalisation_is_one_line() -> None:
    backbone, _ = build_backbone("resnet8", 1)
    with pytest.raises(PatchswapError) as err:
        build_detection_model("yolo", backbone, 11, 64, [0.5], [0.25])
    _one_line(err, "'yolo'", "ssd")
    with pytest.raises(PatchswapError) as err:
        build_detection_model("ssd", backbone, 11, 64, [0.5], [0.25], keep_resolutoin=True)
    _one_line(err, "keep_resolutoin", "keep_resolution")
    with pytest.raises(PatchswapError) as err:
        build_detection_model("ssd", backbone, 11, 64, MEAN, STD)
    _one_line(err, "one value per input channel (1)")
    for bad in ("pascal", ["voc"]):
        with pytest.raises(PatchswapError) as err:
            build_detection_model("ssd", backbone, 11, 64, [0.5], [0.25], box_sizes=bad)
        _one_line(err, "box_sizes must be one of coco, voc", repr(bad))


HEADS = [("segmentation", name) for name in SEGMENTATION_MODELS] + [
    ("detection", name) for name in DETECTION_MODELS
]


@pytest.mark.parametrize(("task", "name"), HEADS, ids=[name for _, name in HEADS])
def test_every_registered_head_builds_and_forwards_a_tiny_batch(task: str, name: str) -> None:
    """The heads' contract (`dense/heads/base.py`) on every registered head, with its default
    options on a resnet8 (two taps) at width 4: train mode gives its outputs or losses, eval mode
    its logits at the input's size or its detections."""
    torch.manual_seed(0)
    backbone, _ = build_backbone("resnet8", 3, taps=["layer2", "layer3"], width=4)
    if task == "segmentation":
        model = build_segmentation_model(name, backbone, 3)
        images = torch.randn(2, 3, 32, 32)
        out = model(images)
        assert "out" in out and set(out) <= {"out", "aux"}
        assert all(v.shape == (2, 3, 32, 32) and v.isfinite().all() for v in out.values())
        model.eval()
        with torch.no_grad():
            assert model(images)["out"].shape == (2, 3, 32, 32)
        return
    model = build_detection_model(name, backbone, 11, 64, MEAN, STD)
    images = [torch.rand(3, 64, 64) for _ in range(2)]
    losses = model(images, _targets())
    assert losses and all(math.isfinite(v.item()) for v in losses.values())
    model.eval()
    with torch.no_grad():
        detections = model(images)
    assert len(detections) == 2
    assert all({"boxes", "scores", "labels"} <= set(found) for found in detections)
