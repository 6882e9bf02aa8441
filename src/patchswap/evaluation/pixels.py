"""Pixel space for attacks and corruptions: images in [0, 1], normalization inside the model.

Attack budgets and corruptions are defined on raw pixels, so the model is wrapped to normalize
its input itself, and the normalized test tensors of a `DataBundle` are mapped back to pixels.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import nn


class Normalized(nn.Module):
    """`model((x - mean) / std)`: a classifier that takes [0, 1] pixel images."""

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model((pixels - self.mean) / self.std)

    def to_pixels(self, normalized: torch.Tensor) -> torch.Tensor:
        """Undo `Normalize`: the [0, 1] pixels of a normalized batch (clamped against rounding)."""
        mean, std = self.mean.to(normalized.device), self.std.to(normalized.device)
        return (normalized * std + mean).clamp(0.0, 1.0)


def pixel_batches(
    loader: Iterable, wrapper: Normalized, device: torch.device | str
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """`(pixels, labels)` on `device` for each normalized `(images, labels, ...)` batch."""
    for images, labels, *_ in loader:
        yield wrapper.to_pixels(images.to(device)), labels.to(device)


def uint8_images(loader: Iterable, wrapper: Normalized) -> tuple[np.ndarray, np.ndarray]:
    """The loader's images as uint8 (N, H, W, C) arrays (the released CIFAR-C layout), and
    their int64 labels; exact for datasets whose transform is ToTensor + Normalize."""
    images, labels = [], []
    for batch, targets, *_ in loader:
        pixels = wrapper.to_pixels(batch.float().cpu())
        images.append((pixels * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy())
        labels.append(np.asarray(targets, dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)
