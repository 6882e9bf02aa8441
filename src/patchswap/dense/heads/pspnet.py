"""PSPNet on a `Backbone`, as mmsegmentation's (PSPHead + auxiliary FCNHead), from smp's
`PSPModule` and torchvision's `FCNHead`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.segmentation.fcn import FCNHead

from ...errors import PatchswapError
from ...models._blocks import init_weights
from ..backbone import Backbone
from .base import check_options, segmentation_head

# mmsegmentation configs/_base_/models/pspnet_r50-d8.py: auxiliary_head (FCNHead on the
# stage-3 map) has loss_decode loss_weight=0.4; the decode head's weight is 1.
AUX_WEIGHT = 0.4
PSP_POOL_SIZES = (1, 2, 3, 6)  # mmseg PSPHead pool_scales
PSP_CHANNELS = 512  # mmseg PSPHead channels


def _init_mmseg(convs: nn.Module, classifier: nn.Conv2d) -> None:
    """mmcv `ConvModule` init (kaiming normal, fan_out, ReLU; BN 1/0) and mmseg's
    `BaseDecodeHead` init of its `conv_seg` classifier (normal, std 0.01, bias 0). The
    former is the classifiers' init of this package (`models._blocks.init_weights`)."""
    init_weights(convs)
    nn.init.normal_(classifier.weight, std=0.01)
    nn.init.zeros_(classifier.bias)


class PSPNet(nn.Module):
    """mmsegmentation's PSPNet: PSPHead on `taps[-1]`, auxiliary FCNHead on `taps[-2]`.

    PSPHead = smp's `PSPModule` (pool sizes 1, 2, 3, 6, each branch a 1x1 conv to a quarter of
    the input channels: mmseg's 512 on ResNet50's 2048) concatenated with its input, a 3x3
    conv to 512 + BN + ReLU (mmseg's bottleneck; smp's `PSPDecoder` has a 1x1 there), dropout
    0.1 and a 1x1 classifier. The auxiliary head is torchvision's `FCNHead` (3x3 conv to a
    quarter of the channels: mmseg's 256 on ResNet50's 1024, BN, ReLU, channel dropout 0.1
    as mmseg's `Dropout2d`, 1x1);
    its loss weight is `AUX_WEIGHT`. Both outputs are resized to the input (bilinear,
    align_corners False as mmseg). Left as smp has them: no BN on the 1x1-pooled branch (BN
    cannot normalise one value per channel at batch 1) and branch upsampling with
    align_corners True.
    """

    def __init__(self, backbone: Backbone, num_classes: int) -> None:
        super().__init__()
        if len(backbone.taps) < 2:
            raise PatchswapError(
                f"pspnet needs two backbone taps (auxiliary head on the second last), the "
                f"backbone has {list(backbone.taps)}; tap two stages, e.g. layer3 and layer4"
            )
        from segmentation_models_pytorch.decoders.pspnet.decoder import PSPModule

        self.backbone = backbone
        self.main, self.aux_tap = backbone.taps[-1], backbone.taps[-2]
        channels = backbone.channels[self.main]
        self.psp = PSPModule(channels, PSP_POOL_SIZES)
        self.bottleneck = nn.Sequential(
            nn.Conv2d(2 * channels, PSP_CHANNELS, 3, padding=1, bias=False),
            nn.BatchNorm2d(PSP_CHANNELS),
            nn.ReLU(),
        )
        self.dropout = nn.Dropout2d(0.1)
        self.classifier = nn.Conv2d(PSP_CHANNELS, num_classes, 1)
        self.aux = FCNHead(backbone.channels[self.aux_tap], num_classes)
        # mmseg's FCNHead drops whole channels (`dropout_ratio` 0.1 -> nn.Dropout2d, as its
        # PSPHead); torchvision's drops single values (nn.Dropout)
        self.aux[3] = nn.Dropout2d(0.1)
        _init_mmseg(nn.ModuleList([self.psp, self.bottleneck, self.classifier]), self.classifier)
        _init_mmseg(self.aux, self.aux[-1])

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(images)
        x = self.dropout(self.bottleneck(self.psp(features[self.main])))
        size = images.shape[-2:]
        return {
            "out": F.interpolate(self.classifier(x), size=size, mode="bilinear"),
            "aux": F.interpolate(self.aux(features[self.aux_tap]), size=size, mode="bilinear"),
        }


@segmentation_head("pspnet")
def build_pspnet(backbone: Backbone, num_classes: int, **options: Any) -> PSPNet:
    """PSPNet on `backbone` (at least two taps). Options: none."""
    check_options("segmentation model", "pspnet", options, {})
    return PSPNet(backbone, num_classes)
