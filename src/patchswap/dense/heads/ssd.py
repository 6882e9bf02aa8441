"""SSD on a `Backbone`: NVIDIA DeepLearningExamples' SSD300 v1.1 (ResNet50) feature layers
under torchvision's `SSD`, which brings the default-box tiling, matching, losses and
post-processing; box sizes per dataset (`SSD300_BOX_SIZES`) and centres clamped to the image as
NVIDIA and ssd.pytorch.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
from torchvision.models.detection.ssd import SSD, SSDHead

from ...errors import PatchswapError
from ..backbone import PROBE_SIZE, Backbone
from .base import check_options, detection_head, positive_int

# NVIDIA SSD300 v1.1 (`_build_additional_features`): out and 1x1-reduction channels of the
# extra blocks after the ResNet50 layer3 map
SSD_EXTRA_CHANNELS = (512, 512, 256, 256, 256)
SSD_EXTRA_MIDS = (256, 256, 128, 128, 128)
# SSD300's geometry (NVIDIA DefaultBoxes, torchvision ssd300_vgg16, ssd.pytorch): 300x300
# inputs, these map sizes, ratios and steps
SSD300_SIZES = (38, 19, 10, 5, 3, 1)
SSD300_ASPECT_RATIOS = ([2], [2, 3], [2, 3], [2, 3], [2], [2])
SSD300_STEPS = (8, 16, 32, 64, 100, 300)
# Default-box sizes / 300 per map (max_sizes[k] = min_sizes[k + 1]), as SSD's Caffe scripts
# derive them for each dataset. coco: ssd_coco.py, NVIDIA's and torchvision's 21, 45, 99, 153,
# 207, 261, 315 px; voc: ssd_pascal.py, ssd.pytorch's `voc` config and mmdetection's
# ssd300_voc0712, min_sizes 30, 60, 111, 162, 213, 264 and max_sizes 60, ..., 315 px.
SSD300_BOX_SIZES = {
    "coco": (0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05),
    "voc": (0.1, 0.2, 0.37, 0.54, 0.71, 0.88, 1.05),
}


def _probe(backbone: Backbone, size: int) -> dict[str, torch.Tensor]:
    """The backbone's maps for one blank `size` x `size` image (eval mode, no gradient)."""
    was_training = backbone.training
    param = next(backbone.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    backbone.eval()
    try:
        with torch.no_grad():
            return backbone(torch.zeros(1, backbone.in_channels, size, size, device=device))
    finally:
        backbone.train(was_training)


def _extra_block(in_channels: int, mid: int, out: int, stride: int, padding: int) -> nn.Sequential:
    """NVIDIA's extra feature block: 1x1 reduce + BN + ReLU, 3x3 conv + BN + ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, mid, 1, bias=False),
        nn.BatchNorm2d(mid),
        nn.ReLU(),
        nn.Conv2d(mid, out, 3, stride=stride, padding=padding, bias=False),
        nn.BatchNorm2d(out),
        nn.ReLU(),
    )


def extra_block_plan(size: int) -> list[tuple[int, int, int]]:
    """(stride, padding, output size) of the extra blocks after a `size` x `size` map.

    Rule: while the map is larger than 5, a stride-2 block (padding 1) halves it; while it is
    at least 3, a stride-1 block without padding shrinks it by 2; at most NVIDIA's 5 blocks.
    A 38 map gives NVIDIA's 19, 10, 5, 3, 1; the 16 map of resnet8 at 64 gives 8, 4, 2.
    """
    plan = []
    for _ in SSD_EXTRA_CHANNELS:
        if size > 5:
            stride, padding, size = 2, 1, (size - 1) // 2 + 1
        elif size >= 3:
            stride, padding, size = 1, 0, size - 2
        else:
            break
        plan.append((stride, padding, size))
    return plan


def ssd_aspect_ratios(num_maps: int) -> list[list[int]]:
    """SSD300's pattern for any number of maps: ratios 2 and 3 on every map but the first
    and the last two, which take 2 only (6 maps: exactly SSD300's)."""
    return [[2] if i == 0 or i >= num_maps - 2 else [2, 3] for i in range(num_maps)]


class SSDFeatures(nn.Module):
    """The backbone's last tap followed by NVIDIA's extra blocks, as torchvision's SSD wants
    its backbone: images -> OrderedDict of maps, largest first, and `out_channels`.

    `sizes` are the maps' sides for `size` x `size` inputs (the SSD transform's fixed size).
    """

    def __init__(self, backbone: Backbone, size: int, extra_width: float = 1.0) -> None:
        super().__init__()
        self.backbone = backbone
        self.tap = backbone.taps[-1]
        source = _probe(backbone, size)[self.tap]
        if source.shape[-2] != source.shape[-1]:
            raise PatchswapError(
                f"the backbone's {self.tap} map of a {size}x{size} image is "
                f"{tuple(source.shape[-2:])}, not square; SSD needs square maps"
            )
        channels = [backbone.channels[self.tap]]
        sizes = [int(source.shape[-1])]
        blocks = []
        for (stride, padding, out_size), out, mid in zip(
            extra_block_plan(sizes[0]), SSD_EXTRA_CHANNELS, SSD_EXTRA_MIDS
        ):
            out, mid = max(round(out * extra_width), 1), max(round(mid * extra_width), 1)
            blocks.append(_extra_block(channels[-1], mid, out, stride, padding))
            channels.append(out)
            sizes.append(out_size)
        self.extras = nn.ModuleList(blocks)
        self.out_channels = channels
        self.sizes = tuple(sizes)
        # NVIDIA `SSD300._init_weights`: xavier_uniform_ on every weight of dim > 1; BN 1/0
        for param in self.extras.parameters():
            if param.dim() > 1:
                nn.init.xavier_uniform_(param)

    def forward(self, images: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        x = self.backbone(images)[self.tap]
        maps = [x]
        for block in self.extras:
            x = block(x)
            maps.append(x)
        return OrderedDict((str(i), m) for i, m in enumerate(maps))


def _stride(module: nn.Module) -> int:
    stride = getattr(module, "stride", 1)
    return max(stride) if isinstance(stride, tuple) else int(stride or 1)


def keep_resolution(backbone: Backbone, tap: str) -> None:
    """Make the stage of `tap` keep its input's resolution, as NVIDIA's SSD300 does to
    ResNet50's layer3 (stride 1 in its first block's convs and downsample: a 38x38 map at 300).

    Sets to 1 the stride of every conv or pooling layer of the stage's first strided block
    (of the whole tap when it is one block). Changes `backbone` in place: its `body` is an FX
    GraphModule whose module calls keep their modules, so its forward changes too, and
    `backbone.strides` is measured again.
    """

    def strided(module: nn.Module) -> list[nn.Module]:
        kinds = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
        return [m for m in module.modules() if isinstance(m, kinds) and _stride(m) > 1]

    stage = backbone.body.get_submodule(tap)
    block = next((child for child in stage.children() if strided(child)), stage)
    if next(block.children(), None) is None:  # a layer, not a block: the tap is one block
        block = stage
    layers = strided(block)
    if not layers:
        raise PatchswapError(
            f"keep_resolution: the backbone stage {tap!r} has no strided layer to keep at its "
            "input's resolution (already stride 1, e.g. dilated); leave keep_resolution off"
        )
    before = {m: m.stride for m in layers}
    for m in layers:
        m.stride = (1, 1) if isinstance(m, nn.Conv2d) else 1
    try:
        maps = _probe(backbone, PROBE_SIZE)
        failure = None
    except RuntimeError as err:
        failure = f"it does not run so ({str(err).splitlines()[0]})"
    if failure is None and PROBE_SIZE // int(maps[tap].shape[-1]) >= backbone.strides[tap]:
        failure = "it strides in code, not in modules"
    if failure is not None:
        for m, stride in before.items():
            m.stride = stride
        raise PatchswapError(
            f"keep_resolution: the backbone stage {tap!r} cannot be set to stride 1: {failure}; "
            "leave keep_resolution off"
        )
    backbone.strides.update({t: PROBE_SIZE // int(m.shape[-1]) for t, m in maps.items()})


class ClampedDefaultBoxes(DefaultBoxGenerator):
    """torchvision's `DefaultBoxGenerator` with the whole (cx, cy, w, h) clamped to [0, 1], as
    NVIDIA's `DefaultBoxes` (`dboxes.clamp_(min=0, max=1)`) and ssd.pytorch's `PriorBox`
    (`output.clamp_(max=1, min=0)`) do; torchvision clamps only w and h.

    Only centres past the image move: at SSD300 the 10x10 map's last row and column
    ((9 + 0.5) / (300 / 32) = 1.013), 114 of the 8732 boxes. Maps tiled without `steps` have
    every centre inside.
    """

    def _grid_default_boxes(
        self, grid_sizes: list[list[int]], image_size: list[int], dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        boxes = super()._grid_default_boxes(grid_sizes, image_size, dtype)
        return boxes.clamp(min=0, max=1) if self.clip else boxes


def _check_box_sizes(box_sizes: Any) -> None:
    if not isinstance(box_sizes, str) or box_sizes not in SSD300_BOX_SIZES:
        raise PatchswapError(
            f"box_sizes must be one of {', '.join(SSD300_BOX_SIZES)} (the SSD300 default-box "
            f"sizes of that dataset's reference), got {box_sizes!r}"
        )


def default_boxes(sizes: Sequence[int], input_size: int, box_sizes: str) -> ClampedDefaultBoxes:
    """SSD's default boxes for maps of sides `sizes` on `input_size` inputs.

    SSD300's geometry (300 inputs, maps 38-19-10-5-3-1) takes the references' steps and the
    `box_sizes` table of `SSD300_BOX_SIZES` (`coco` or `voc`); any other geometry, for which
    neither reference has a table, takes `ssd_aspect_ratios` with torchvision's scales (0.15
    to 0.9 linearly, then 1), whatever `box_sizes` says.
    """
    _check_box_sizes(box_sizes)
    if input_size == 300 and tuple(sizes) == SSD300_SIZES:
        return ClampedDefaultBoxes(
            [list(r) for r in SSD300_ASPECT_RATIOS],
            scales=list(SSD300_BOX_SIZES[box_sizes]),
            steps=list(SSD300_STEPS),
        )
    return ClampedDefaultBoxes(ssd_aspect_ratios(len(sizes)))


@detection_head("ssd")
def build_ssd(
    backbone: Backbone,
    num_classes: int,
    size: int,
    image_mean: Sequence[float],
    image_std: Sequence[float],
    **options: Any,
) -> SSD:
    """SSD on `backbone`: torchvision's `SSD` for `size` x `size` inputs, `num_classes`
    including background, images normalised by mean/std (one value per input channel, or one
    for all).

    Maps: the backbone's last tap, then NVIDIA's extra blocks (`extra_block_plan`). Default
    boxes: `default_boxes` (SSD300's when `size` is 300 and the maps are 38-19-10-5-3-1,
    centres clamped to the image as NVIDIA and ssd.pytorch). Head: torchvision's `SSDHead`
    (3x3 convs as NVIDIA's; xavier init as both).

    Options: `keep_resolution` (False; True strides the last tap's stage 1, see
    `keep_resolution`), `extra_width` (1.0: NVIDIA's 512/256 channels; scales them for small
    backbones), `box_sizes` (`coco`: NVIDIA's SSD300 sizes, 21-315 px; `voc`: ssd.pytorch's
    VOC ones, 30-315 px; SSD300 geometry only), and torchvision's post-processing
    `score_thresh` (0.01), `nms_thresh` (0.45), `detections_per_img` (200).
    """
    name = "ssd"
    defaults = {
        "keep_resolution": False,
        "extra_width": 1.0,
        "box_sizes": "coco",
        "score_thresh": 0.01,
        "nms_thresh": 0.45,
        "detections_per_img": 200,
    }
    chosen = check_options("detection model", name, options, defaults)
    positive_int("num_classes (background included)", num_classes, 2)
    positive_int("detection input size", size)
    positive_int("detections_per_img", chosen["detections_per_img"])
    if not isinstance(chosen["keep_resolution"], bool):
        raise PatchswapError(
            f"keep_resolution must be true or false, got {chosen['keep_resolution']!r}"
        )
    width = chosen["extra_width"]
    if isinstance(width, bool) or not isinstance(width, int | float) or width <= 0:
        raise PatchswapError(f"extra_width must be a number > 0, got {width!r}")
    for key in ("score_thresh", "nms_thresh"):
        value = chosen[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise PatchswapError(f"{key} must be a number in [0, 1], got {value!r}")
    mean, std = [float(v) for v in image_mean], [float(v) for v in image_std]
    if len(mean) != len(std) or len(mean) not in (1, backbone.in_channels):
        raise PatchswapError(
            f"image_mean {mean} and image_std {std} need one value per input channel "
            f"({backbone.in_channels}) or one for all"
        )
    _check_box_sizes(chosen["box_sizes"])
    if chosen["keep_resolution"]:
        keep_resolution(backbone, backbone.taps[-1])
    features = SSDFeatures(backbone, size, float(width))
    anchors = default_boxes(features.sizes, size, chosen["box_sizes"])
    head = SSDHead(features.out_channels, anchors.num_anchors_per_location(), num_classes)
    return SSD(
        features,
        anchors,
        (size, size),
        num_classes,
        image_mean=mean,
        image_std=std,
        head=head,
        score_thresh=float(chosen["score_thresh"]),
        nms_thresh=float(chosen["nms_thresh"]),
        detections_per_img=chosen["detections_per_img"],
    )
