"""`build_datasets`: a DataConfig in, the train / train_eval / test splits of a run out."""

from __future__ import annotations

import torch
from torch.utils.data import Subset

from ..config import DataConfig
from .bundle import DataBundle
from .label_noise import RelabeledDataset, symmetric_label_noise
from .registry import get_loader
from .subset import class_balanced_indices, first_n
from .transforms import TransformedDataset

HOLDOUT_SEED = 7919  # added to subset_seed: the held-out draw differs from the subset draw


def build_datasets(cfg: DataConfig) -> DataBundle:
    """Load `cfg.name` and apply augmentation, the held-out split, the training subset and the
    test subset.

    `train` and `train_eval` are two transform views of one loaded dataset, subset with the
    same indices, so `train_labels[i]` labels both `train[i]` and `train_eval[i]`; with
    `cfg.label_noise.rate > 0` those labels are the noisy ones (the test set and the held-out
    split stay clean). The held-out images are drawn first, so the training subset never holds
    one, and without `holdout_per_class` the subset is the same as before it existed.
    """
    source = get_loader(cfg.name)(cfg)
    train_transform = source.train_transform if cfg.augment else source.test_transform
    train = TransformedDataset(source.train, train_transform)
    train_eval = TransformedDataset(source.train, source.test_transform)
    train_labels = source.train_labels
    holdout = None
    kept = torch.arange(len(train_labels))
    if cfg.holdout_per_class is not None:
        held = class_balanced_indices(
            train_labels,
            cfg.holdout_per_class,
            cfg.subset_seed + HOLDOUT_SEED,
            "data.holdout_per_class",
            leave=1,
        )
        holdout = Subset(train_eval, held.tolist())
        kept = kept[~torch.isin(kept, held)]
    if cfg.samples_per_class is not None:
        kept = kept[
            class_balanced_indices(train_labels[kept], cfg.samples_per_class, cfg.subset_seed)
        ]
    if len(kept) < len(train_labels):
        train = Subset(train, kept.tolist())
        train_eval = Subset(train_eval, kept.tolist())
        train_labels = train_labels[kept]
    noise = None
    if cfg.label_noise.rate != 0:  # a negative rate fails in symmetric_label_noise
        noise = symmetric_label_noise(
            train_labels, len(source.class_names), cfg.label_noise.rate, cfg.label_noise.seed
        )
        train_labels = noise.labels
        train = RelabeledDataset(train, train_labels)
        train_eval = RelabeledDataset(train_eval, train_labels)
    test = TransformedDataset(source.test, source.test_transform)
    if cfg.test_subset is not None:
        test = first_n(test, cfg.test_subset)
    in_memory = None
    if source.in_memory is not None:  # the same rows as train and test, for the device path
        rows = kept if len(kept) < len(source.train_labels) else None
        in_memory = source.in_memory.select(rows, len(test), cfg.augment)
    return DataBundle(
        train=train,
        train_eval=train_eval,
        test=test,
        train_labels=train_labels,
        test_labels=source.test_labels[: len(test)],
        num_classes=len(source.class_names),
        in_channels=source.in_channels,
        image_size=source.image_size,
        class_names=source.class_names,
        mean=source.mean,
        std=source.std,
        label_noise=noise,
        holdout=holdout,
        in_memory=in_memory,
    )
