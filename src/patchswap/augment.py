"""Batch-level Cutout, CutMix and MixUp, written to match the official code of each paper.

The data-augmentation baselines of the paper (Tables 10 and 13). Each object is called on a
normalized `(B, C, H, W)` batch and returns a `Mixed` batch: the images and what the loss needs,
`(targets_a, targets_b, lam)`, for `mixed_cross_entropy` (Cutout returns `lam = 1`).

- `Cutout` (DeVries & Taylor 2017, github.com/uoguelph-mlrg/Cutout `util/cutout.py`).
- `CutMix` (Yun et al. 2019, github.com/clovaai/CutMix-PyTorch `train.py`, `rand_bbox`).
- `MixUp` (Zhang et al. 2018, github.com/facebookresearch/mixup-cifar10 `train.py`).

torchvision's `transforms.v2.MixUp`/`CutMix` are not used: they pair each image with its
neighbour by `roll(1)` instead of a random permutation, have no per-batch probability and
return soft labels, so they do not reproduce the official baselines.

`groups=2` serves patch swap's pair batches (`B` anchors then `B` same-class partners): every
block gets the same partner permutation (within the block), the same `lam` and the same box,
so anchor `i` and partner `i` keep identical mixed targets. Randomness comes from an optional
`torch.Generator` (else torch's global RNG); `lam ~ Beta` is drawn by NumPy from a seed taken
from that torch RNG, because torch's Beta sampler accepts no generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from .errors import PatchswapError


@dataclass
class Mixed:
    """An augmented batch and its loss targets: `lam * CE(targets_a) + (1-lam) * CE(targets_b)`."""

    images: torch.Tensor
    targets_a: torch.Tensor
    targets_b: torch.Tensor
    lam: float


class BatchAugment(Protocol):
    """What `Cutout`, `CutMix` and `MixUp` have in common."""

    def __call__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        groups: int = 1,
    ) -> Mixed: ...


def mixed_cross_entropy(
    logits: torch.Tensor, targets_a: torch.Tensor, targets_b: torch.Tensor, lam: float
) -> torch.Tensor:
    """`lam * CE(logits, targets_a) + (1 - lam) * CE(logits, targets_b)`, in float32.

    The two-label loss of the official CutMix and MixUp code (`mixup_criterion`).
    """
    logits = logits.float()
    return lam * F.cross_entropy(logits, targets_a) + (1 - lam) * F.cross_entropy(logits, targets_b)


def clipped_span(centre: torch.Tensor, half: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`[centre - half, centre + half)` clipped to `[0, size]`, as both official codes clip."""
    return (centre - half).clamp(0, size), (centre + half).clamp(0, size)


def cutmix_box(lam: float, cy: int, cx: int, height: int, width: int) -> tuple[int, int, int, int]:
    """Official `rand_bbox`: sides `int(side * sqrt(1 - lam))` centred on `(cy, cx)`, clipped.

    Returns `(y1, y2, x1, x2)`; the box is `[y1, y2) x [x1, x2)`.
    """
    ratio = math.sqrt(1.0 - lam)
    y1, y2 = clipped_span(torch.tensor(cy), int(height * ratio) // 2, height)
    x1, x2 = clipped_span(torch.tensor(cx), int(width * ratio) // 2, width)
    return int(y1), int(y2), int(x1), int(x2)


def box_lambda(box: tuple[int, int, int, int], height: int, width: int) -> float:
    """`lam` recomputed from the clipped box: the fraction of the image left unpasted."""
    y1, y2, x1, x2 = box
    return 1.0 - (y2 - y1) * (x2 - x1) / (height * width)


def _check_batch(images: torch.Tensor, targets: torch.Tensor, groups: int) -> None:
    if images.dim() != 4 or len(targets) != len(images):
        raise PatchswapError(
            f"batch augmentation needs (B, C, H, W) images and B targets, got "
            f"{tuple(images.shape)} and {tuple(targets.shape)}"
        )
    if groups < 1 or len(images) % groups:
        raise PatchswapError(f"groups={groups} must divide the batch size {len(images)}")


def _draw_device(images: torch.Tensor, generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else images.device


def _beta(a: float, device: torch.device, generator: torch.Generator | None) -> float:
    """`lam ~ Beta(a, a)` seeded from the torch RNG (torch's Beta takes no generator)."""
    seed = torch.randint(2**62, (), device=device, generator=generator).item()
    return float(np.random.default_rng(seed).beta(a, a))


def partner_index(
    batch: int, groups: int, device: torch.device, generator: torch.Generator | None
) -> torch.Tensor:
    """`randperm` of each of the `groups` blocks, the same permutation for every block."""
    size = batch // groups
    perm = torch.randperm(size, device=device, generator=generator)
    return (perm + torch.arange(0, batch, size, device=device)[:, None]).flatten()


@dataclass
class Cutout:
    """Zero `holes` square regions per image, on the normalized tensor (official Cutout).

    The side is `length` on `reference_size`-pixel images (8 on 32x32 CIFAR-100; the official
    code uses 16 for CIFAR-10) and scales with the image: `round(length * H / reference_size)`
    rows by `round(length * W / reference_size)` columns. As in the official code the hole
    spans `centre -+ side // 2` (an odd side loses one pixel), its centre is uniform over the
    image and it is clipped at the borders. Each image gets its own holes, so `groups` changes
    nothing; targets are unchanged and `lam = 1`.
    """

    length: int = 8
    holes: int = 1
    reference_size: int = 32

    def __post_init__(self) -> None:
        for key in ("length", "holes", "reference_size"):
            if getattr(self, key) < 1:
                raise PatchswapError(f"Cutout {key}={getattr(self, key)} must be >= 1")

    def side(self, size: int) -> int:
        """The hole's side on an axis of `size` pixels (round half up)."""
        return (2 * self.length * size + self.reference_size) // (2 * self.reference_size)

    def mask(
        self,
        batch: int,
        height: int,
        width: int,
        device: torch.device,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """`(B, H, W)` bool mask of the cut-out pixels."""
        cy = torch.randint(height, (batch, self.holes, 1), device=device, generator=generator)
        cx = torch.randint(width, (batch, self.holes, 1), device=device, generator=generator)
        y1, y2 = clipped_span(cy, self.side(height) // 2, height)
        x1, x2 = clipped_span(cx, self.side(width) // 2, width)
        rows = torch.arange(height, device=device)
        cols = torch.arange(width, device=device)
        in_rows = (rows >= y1) & (rows < y2)  # (B, holes, H)
        in_cols = (cols >= x1) & (cols < x2)  # (B, holes, W)
        return (in_rows[..., :, None] & in_cols[..., None, :]).any(1)

    def __call__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        groups: int = 1,
    ) -> Mixed:
        _check_batch(images, targets, groups)
        batch, _, height, width = images.shape
        if min(self.side(height), self.side(width)) < 2:  # a side of 1 spans +-0: no hole
            raise PatchswapError(
                f"Cutout length={self.length} makes no hole on {height}x{width} images "
                f"(reference_size={self.reference_size}); raise length or lower reference_size"
            )
        hole = self.mask(batch, height, width, _draw_device(images, generator), generator)
        images = images.masked_fill(hole.to(images.device)[:, None], 0.0)
        return Mixed(images, targets, targets, 1.0)


@dataclass
class CutMix:
    """With probability `prob` per batch, paste a box from a permuted batch (official CutMix).

    `lam ~ Beta(beta, beta)`; the partner is `randperm`; the box has sides
    `int(side * sqrt(1 - lam))`, a centre uniform over the image, and is clipped at the
    borders; `lam` is then recomputed from the clipped area (`box_lambda`). A batch left
    unmixed returns its images unchanged with `lam = 1`.
    """

    beta: float = 1.0
    prob: float = 0.5

    def __post_init__(self) -> None:
        if self.beta <= 0:
            raise PatchswapError(f"CutMix beta={self.beta} must be > 0; use prob=0 to disable")
        if not 0.0 <= self.prob <= 1.0:
            raise PatchswapError(f"CutMix prob={self.prob} is not a probability; use [0, 1]")

    def __call__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        groups: int = 1,
    ) -> Mixed:
        _check_batch(images, targets, groups)
        device = _draw_device(images, generator)
        if torch.rand((), device=device, generator=generator).item() >= self.prob:
            return Mixed(images, targets, targets, 1.0)
        batch, _, height, width = images.shape
        lam = _beta(self.beta, device, generator)
        index = partner_index(batch, groups, device, generator).to(images.device)
        cy, cx = (
            torch.randint(size, (), device=device, generator=generator).item()
            for size in (height, width)
        )
        y1, y2, x1, x2 = box = cutmix_box(lam, cy, cx, height, width)
        mixed = images.clone()
        mixed[:, :, y1:y2, x1:x2] = images[index, :, y1:y2, x1:x2]
        return Mixed(mixed, targets, targets[index], box_lambda(box, height, width))


@dataclass
class MixUp:
    """`lam * x + (1 - lam) * x[randperm]` with `lam ~ Beta(alpha, alpha)` (official MixUp).

    `alpha = 0` means `lam = 1`, no mixing, as in the official `mixup_data`.
    """

    alpha: float = 1.0

    def __post_init__(self) -> None:
        if self.alpha < 0:
            raise PatchswapError(f"MixUp alpha={self.alpha} must be >= 0 (0 disables mixing)")

    def __call__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        groups: int = 1,
    ) -> Mixed:
        _check_batch(images, targets, groups)
        if self.alpha == 0:
            return Mixed(images, targets, targets, 1.0)
        device = _draw_device(images, generator)
        lam = _beta(self.alpha, device, generator)
        index = partner_index(len(images), groups, device, generator).to(images.device)
        mixed = lam * images + (1 - lam) * images[index]
        return Mixed(mixed, targets, targets[index], lam)


AUGMENTATIONS: dict[str, type] = {"cutout": Cutout, "cutmix": CutMix, "mixup": MixUp}
