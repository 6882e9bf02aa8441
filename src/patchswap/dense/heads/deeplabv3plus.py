"""DeepLabV3+ on a `Backbone`, as jfzhang95/pytorch-deeplab-xception (DeepLabV3+ with
ResNet): ASPP from segmentation-models-pytorch with that repository's settings, its decoder
assembled here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import PatchswapError
from ..backbone import Backbone
from .base import check_options, positive_int, segmentation_head

# jfzhang95 DeepLab: ASPP atrous rates 6, 12, 18 at output stride 16 (12, 24, 36 at 8)
ATROUS_RATES = (6, 12, 18)


class DeepLabV3PlusDecoder(nn.Module):
    """jfzhang95's `Decoder`: low-level map reduced to 48 channels, joined with the upsampled
    ASPP output, two 3x3 convs (dropout 0.5, 0.1) and a 1x1 classifier.

    The ASPP output is resized to the low-level map's size, whatever the stride ratio.
    """

    def __init__(
        self, low_channels: int, channels: int, num_classes: int, reduced: int = 48
    ) -> None:
        super().__init__()
        self.reduce = nn.Sequential(
            nn.Conv2d(low_channels, reduced, 1, bias=False), nn.BatchNorm2d(reduced), nn.ReLU()
        )
        self.fuse = nn.Sequential(
            nn.Conv2d(channels + reduced, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Conv2d(channels, num_classes, 1),
        )

    def forward(self, aspp: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        low = self.reduce(low)
        aspp = F.interpolate(aspp, size=low.shape[-2:], mode="bilinear", align_corners=True)
        return self.fuse(torch.cat([aspp, low], dim=1))


class DeepLabV3Plus(nn.Module):
    """DeepLabV3+ as jfzhang95/pytorch-deeplab-xception builds it, on any `Backbone`.

    High-level map `taps[-1]` -> ASPP (smp's, with jfzhang95's settings: plain 3x3 atrous
    convs, image pooling, 256 channels, dropout 0.5); low-level map `taps[0]` -> decoder.
    smp's own `DeepLabV3Plus`/`DeepLabV3PlusDecoder` are not used: they take only smp encoders,
    index the encoder's fixed 6-level feature list (`features[2]` low, `features[-1]` high) and
    upsample by a fixed factor 4 (or 2), while these backbones are any classifier this trainer
    builds (e.g. the CIFAR-style resnet8, whose stages are at strides 1, 2 and 4).
    """

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        atrous_rates: Sequence[int] = ATROUS_RATES,
        channels: int = 256,
    ) -> None:
        super().__init__()
        # Imported here, as in PSPNet: smp's package import loads every encoder (timm,
        # huggingface_hub), seconds that detection runs and the CLI need not pay.
        from segmentation_models_pytorch.decoders.deeplabv3.decoder import ASPP

        self.backbone = backbone
        self.low, self.high = backbone.taps[0], backbone.taps[-1]
        self.aspp = ASPP(
            backbone.channels[self.high],
            channels,
            tuple(atrous_rates),
            separable=False,
            dropout=0.5,
        )
        # the low-level reduction keeps the reference's 48:256 ratio when `channels` shrinks
        reduced = max(round(48 * channels / 256), 1)
        self.decoder = DeepLabV3PlusDecoder(
            backbone.channels[self.low], channels, num_classes, reduced
        )
        # jfzhang95 `_init_weight` of ASPP and Decoder: kaiming_normal_ (fan_in) convs, BN 1/0
        for module in (self.aspp, self.decoder):
            for m in module.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(images)
        logits = self.decoder(self.aspp(features[self.high]), features[self.low])
        out = F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=True)
        return {"out": out}


@segmentation_head("deeplabv3plus")
def build_deeplabv3plus(backbone: Backbone, num_classes: int, **options: Any) -> DeepLabV3Plus:
    """DeepLabV3+ on `backbone`. Options: `atrous_rates` (three dilations; default 6, 12, 18
    for output stride 16, jfzhang95 uses 12, 24, 36 at 8) and `channels` (ASPP and decoder
    width, default 256 as the reference; smaller for small backbones on CPU)."""
    name = "deeplabv3plus"
    defaults = {"atrous_rates": ATROUS_RATES, "channels": 256}
    chosen = check_options("segmentation model", name, options, defaults)
    positive_int("deeplabv3plus option channels", chosen["channels"])
    rates = chosen["atrous_rates"]
    if (
        isinstance(rates, str | bytes)
        or not isinstance(rates, Sequence)
        or len(rates) != 3
        or not all(isinstance(r, int) and not isinstance(r, bool) and r > 0 for r in rates)
    ):
        raise PatchswapError(
            f"deeplabv3plus option atrous_rates must be three positive integers (e.g. "
            f"[6, 12, 18] at output stride 16), got {rates!r}"
        )
    return DeepLabV3Plus(backbone, num_classes, rates, chosen["channels"])
