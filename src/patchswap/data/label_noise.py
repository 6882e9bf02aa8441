"""Symmetric label noise on the training set, as in Wang et al. 2019 (Table 14 of the paper).

Following `YisenWang/symmetric_cross_entropy_for_noisy_labels` (`datasets.py`,
`util.py::other_class`): exactly `round(rate * N)` training labels change, spread over the
classes in proportion to their size (class-balanced), and each changed label becomes a class
drawn uniformly from the K-1 *other* classes, never the true one. (DivideMix's convention draws
from all K classes, true one included; it is a different noise model and not used here.)
The draw depends only on the labels, the rate and the seed, so runs with the same seed see the
same noise; the test set is never touched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch.utils.data import Dataset

from ..errors import ConfigError
from ..infra.atomic_files import atomic_write_text

RECORD_NAME = "label_noise.json"


@dataclass
class LabelNoise:
    """What the noise did: `labels` are the noisy training labels; `indices` (positions in the
    run's training set, sorted) were changed from `original` to `labels[indices]`."""

    rate: float
    seed: int
    labels: torch.Tensor
    indices: torch.Tensor
    original: torch.Tensor


def _per_class_counts(class_sizes: list[int], total: int) -> list[int]:
    """Split `total` flips over classes in proportion to their sizes (largest remainder).

    Balanced classes with `total` divisible by K get exactly `total / K` each; otherwise the
    leftover flips go to the classes with the largest fractional share (lowest index on ties).
    Integer arithmetic, so the counts add up to `total` exactly.
    """
    n = sum(class_sizes)
    counts = [size * total // n for size in class_sizes]
    remainders = [size * total % n for size in class_sizes]
    order = sorted(range(len(class_sizes)), key=lambda c: (-remainders[c], c))
    for c in order[: total - sum(counts)]:
        counts[c] += 1
    return counts


def symmetric_label_noise(
    labels: torch.Tensor, num_classes: int, rate: float, seed: int
) -> LabelNoise:
    """Flip exactly `round(rate * len(labels))` labels, class-balanced, each to another class."""
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"data.label_noise.rate={rate} must be in [0, 1], e.g. 0.4 for 40%")
    if num_classes < 2:
        raise ConfigError(f"label noise needs at least 2 classes, the dataset has {num_classes}")
    labels = labels.long()
    generator = torch.Generator().manual_seed(seed)
    sizes = torch.bincount(labels, minlength=num_classes).tolist()
    counts = _per_class_counts(sizes, round(rate * len(labels)))
    chosen = []
    for c in range(num_classes):
        members = torch.nonzero(labels == c).flatten()
        chosen.append(members[torch.randperm(len(members), generator=generator)[: counts[c]]])
    indices = torch.sort(torch.cat(chosen)).values
    original = labels[indices]
    # Uniform over the K-1 other classes: draw from 0..K-2 and skip the true class.
    draw = torch.randint(0, num_classes - 1, (len(indices),), generator=generator)
    noisy = labels.clone()
    noisy[indices] = draw + (draw >= original).long()
    return LabelNoise(rate, seed, noisy, indices, original)


class RelabeledDataset(Dataset):
    """`base` with its labels replaced by `labels[i]` (the images and their order unchanged)."""

    def __init__(self, base: Dataset, labels: torch.Tensor) -> None:
        self.base = base
        self.labels = labels

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image, _ = self.base[index]
        return image, int(self.labels[index])


class WithLabelNoise(Protocol):
    """What `write_label_noise` reads (a `DataBundle`; typed by its one field, since the
    bundle module builds on this one)."""

    label_noise: LabelNoise | None


def write_label_noise(bundle: WithLabelNoise, folder: str | Path) -> Path | None:
    """Write `folder/label_noise.json`: which training indices were flipped, from what to what.

    Indices are positions in `bundle.train` (after `data.samples_per_class`), the indices the
    training loader yields. Returns the path, or None (writing nothing) without label noise.
    """
    noise = bundle.label_noise
    if noise is None:
        return None
    path = Path(folder) / RECORD_NAME
    record = {
        "rate": noise.rate,
        "seed": noise.seed,
        "num_samples": len(noise.labels),
        "num_flipped": len(noise.indices),
        "indices": noise.indices.tolist(),
        "from": noise.original.tolist(),
        "to": noise.labels[noise.indices].tolist(),
    }
    atomic_write_text(path, json.dumps(record) + "\n")
    return path
