"""Grad-CAM maps (Selvaraju et al. 2017) of the last conv stage, Figure 9 of the paper.

Uses the maintained `grad-cam` package (jacobgil/pytorch-grad-cam). The target layer is the
last feature map before global pooling, found by `methods.features.last_feature_map` (`layer4`
of a ResNet, the 1x1 head conv of MobileNetV2 and ShuffleNetV2, as pytorch-grad-cam's own
examples choose), so any model from any source works without naming its layers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from ..methods.features import last_feature_map


def grad_cam(
    model: nn.Module,
    images: torch.Tensor,
    targets: Sequence[int],
    in_channels: int,
    image_size: tuple[int, int],
) -> np.ndarray:
    """Grad-CAM maps (N, H, W) in [0, 1] of `images` (normalized, on the model's device) for
    the classes `targets`, at the model's last feature map."""
    stage = last_feature_map(model, in_channels, image_size).name
    layer = dict(model.named_modules())[stage]
    was_training = model.training
    with GradCAM(model=model, target_layers=[layer]) as cam:
        maps = cam(input_tensor=images, targets=[ClassifierOutputTarget(int(t)) for t in targets])
    model.train(was_training)
    return maps


def overlay(pixels: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """Heat maps over images: `pixels` float (N, H, W, C) in [0, 1], C 1 or 3 -> uint8 RGB."""
    rgb = np.repeat(pixels, 3, axis=-1) if pixels.shape[-1] == 1 else pixels
    return np.stack(
        [
            show_cam_on_image(image.astype(np.float32), m, use_rgb=True)
            for image, m in zip(rgb, maps)
        ]
    )
