"""Seeded, class-balanced training subsets and first-N test subsets."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset, Subset

from ..errors import ConfigError


def class_balanced_indices(
    labels: torch.Tensor,
    per_class: int,
    seed: int,
    option: str = "data.samples_per_class",
    leave: int = 0,
) -> torch.Tensor:
    """Sorted indices of `per_class` samples of every class, drawn with `seed`.

    Sorted so the subset keeps the dataset's order; the draw depends only on `labels` and
    `seed`, so a recipe always trains on the same images. A `per_class` above the smallest
    class is a ConfigError rather than a silent cap: the run would train on fewer images, and
    unbalanced classes, than its recipe says. `leave` images of every class must remain (a
    held-out split must not take a class out of training).
    """
    if per_class < 1:
        raise ConfigError(f"{option}={per_class} must be >= 1")
    classes, counts = torch.unique(labels, sorted=True, return_counts=True)
    smallest = int(counts.min()) if len(counts) else 0
    if per_class > smallest - leave:
        raise ConfigError(
            f"{option}={per_class} but the smallest class of the training set has "
            f"{smallest} images; use <= {smallest - leave} or leave it unset"
            + (" for all images" if option == "data.samples_per_class" else "")
        )
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for label in classes:
        members = torch.nonzero(labels == label).flatten()
        order = torch.randperm(len(members), generator=generator)
        chosen.append(members[order[:per_class]])
    return torch.sort(torch.cat(chosen)).values


def first_n(dataset: Dataset, n: int) -> Dataset:
    """The first `n` items of `dataset` (all of them when it is shorter): quick CPU evaluation."""
    if n < 1:
        raise ConfigError(f"data.test_subset={n} must be >= 1")
    return Subset(dataset, range(min(n, len(dataset))))
