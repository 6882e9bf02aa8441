"""Device-resident data path for datasets that fit in memory (CIFAR-10/100, Fashion-MNIST).

The uint8 images live on the training device; each batch is gathered by index, then padded
random crop, horizontal flip and normalization run there as batched tensor ops. No worker
processes and no per-sample PIL work: on a GPU the input pipeline stops being the bottleneck.
The images and the crop/flip policy are the data source's (`DataBundle.in_memory`).

The augmentation matches the DataLoader path (torchvision `RandomCrop(size, padding)` with zero
fill, `RandomHorizontalFlip(0.5)`, `ToTensor`, `Normalize`) in distribution: crop offsets are
uniform over `0..2*padding` per axis and flips happen with probability 1/2, per sample.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F

from ..data.transforms import Augmentation


class DeviceAugment:
    """Batched padded random crop + horizontal flip (as `augmentation` says) + normalization of
    uint8 images."""

    def __init__(
        self, mean: Sequence[float], std: Sequence[float], augmentation: Augmentation
    ) -> None:
        self.mean = torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.padding = augmentation.crop_padding
        self.flip = augmentation.flip

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean.to(images.device), self.std.to(images.device)
        return (images.float() / 255.0 - mean) / std

    def crop(self, images: torch.Tensor) -> torch.Tensor:
        """Random `H x W` crops of the zero-padded batch, one offset pair per image."""
        batch, _, height, width = images.shape
        p = self.padding
        padded = F.pad(images, (p, p, p, p))
        top = torch.randint(0, 2 * p + 1, (batch, 1), device=images.device)
        left = torch.randint(0, 2 * p + 1, (batch, 1), device=images.device)
        rows = (top + torch.arange(height, device=images.device))[:, None, :, None]
        cols = (left + torch.arange(width, device=images.device))[:, None, None, :]
        samples = torch.arange(batch, device=images.device)[:, None, None, None]
        channels = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
        return padded[samples, channels, rows, cols]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if self.padding:
            images = self.crop(images)
        if self.flip:
            flipped = torch.rand(len(images), device=images.device) < 0.5
            images = torch.where(flipped[:, None, None, None], images.flip(-1), images)
        return self.normalize(images)


class DeviceLoader:
    """Iterates a batch sampler over device-resident images: `(images, labels, indices)`.

    With `views > 1` images are `(N, views, C, H, W)`, each view augmented independently.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_sampler,
        augment: DeviceAugment,
        views: int = 1,
    ) -> None:
        self.images = images
        self.labels = labels
        self.batch_sampler = batch_sampler
        self.augment = augment
        self.views = views

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        for batch in self.batch_sampler:
            cpu_index = torch.as_tensor(batch)
            index = cpu_index.to(self.images.device, non_blocking=True)
            raw = self.images[index]
            if self.views > 1:
                images = torch.stack([self.augment(raw) for _ in range(self.views)], dim=1)
            else:
                images = self.augment(raw)
            yield images, self.labels[index], cpu_index


class DeviceEvalLoader:
    """Normalized, un-augmented evaluation batches of device-resident images."""

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor, augment: DeviceAugment, batch_size: int
    ) -> None:
        self.images = images
        self.labels = labels
        self.augment = augment
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.images) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(self.images), self.batch_size):
            batch = slice(start, start + self.batch_size)
            yield self.augment.normalize(self.images[batch]), self.labels[batch]
