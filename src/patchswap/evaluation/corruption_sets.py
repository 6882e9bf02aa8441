"""Corrupted test sets in the released CIFAR-10-C / CIFAR-100-C layout, and accuracy on them.

Layout (Hendrycks & Dietterich 2019): one `<corruption>.npy` per corruption, uint8
(5 * N, H, W, C) holding severities 1-5 stacked, N test images each in test order, and
`labels.npy` (5 * N,). The released CIFAR files have N = 10000, 32x32x3. Accuracy per
corruption is over all its (selected) severities, and the summary is the mean over corruptions,
as AugMix's evaluation and the paper's Tables 10-11.

`generate_corrupted_set` writes the same layout with `corruptions.corrupt` for any test set and
caches it. Generated sets are NOT the released ones (the same functions, other random draws):
their numbers are close to but not the paper's. Use the released files for CIFAR-10/100
(`--corruption-root`); those also hold nine corruptions beyond Table 11 (`RELEASED_ONLY`:
noise, zoom, pixelate, JPEG, spatter, saturate), which can be evaluated from the files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.files import cache_dir
from ..errors import DataError
from ..infra.atomic_files import atomic_write, atomic_write_text
from .corruptions import CORRUPTIONS, SEVERITIES, check_corruption_args, corrupt

# bump when `corruptions` changes its output, to invalidate caches (2: the frost photographs)
GENERATOR_VERSION = 2
LABELS_FILE = "labels.npy"


def _save_npy(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda out: np.save(out, array))


def generated_set_folder(images: np.ndarray, labels: np.ndarray, seed: int, tag: str) -> Path:
    """Cache folder of a generated set: named by `tag` and a hash of the clean images, labels,
    seed and generator version, so any change makes a new set and an unchanged one is reused."""
    digest = hashlib.sha256()
    for part in (images, labels.astype(np.int64)):
        digest.update(str(part.shape).encode())
        digest.update(np.ascontiguousarray(part).tobytes())
    digest.update(f"seed={seed} version={GENERATOR_VERSION}".encode())
    return cache_dir() / "corruptions" / f"{tag}-{digest.hexdigest()[:16]}"


def generate_corrupted_set(
    images: np.ndarray,
    labels: np.ndarray,
    folder: str | Path,
    seed: int = 0,
    corruptions: Sequence[str] = CORRUPTIONS,
    chunk: int = 500,
) -> Path:
    """Write `folder/<corruption>.npy` (all five severities) and `labels.npy` for `images`
    (uint8 (N, H, W, C)); files already there are kept, so an interrupted run resumes."""
    check_corruption_args(corruptions, SEVERITIES)
    folder = Path(folder)
    n = len(images)
    if not (folder / LABELS_FILE).is_file():
        _save_npy(folder / LABELS_FILE, np.tile(labels.astype(np.int64), len(SEVERITIES)))
    for name in corruptions:
        path = folder / f"{name}.npy"
        if path.is_file():
            continue
        out = np.empty((len(SEVERITIES) * n, *images.shape[1:]), dtype=np.uint8)
        for s, severity in enumerate(SEVERITIES):
            for start in range(0, n, chunk):
                block = images[start : start + chunk]
                out[s * n + start : s * n + start + len(block)] = corrupt(
                    block, name, severity, seed=seed, first_index=start
                )
        _save_npy(path, out)
    meta = {
        "generated_by": f"patchswap.evaluation.corruptions (version {GENERATOR_VERSION})",
        "seed": seed,
        "images_per_severity": n,
        "note": "generated, not the released CIFAR-C: numbers are not comparable to the paper",
    }
    atomic_write_text(folder / "meta.json", json.dumps(meta, indent=1) + "\n")
    return folder


def load_corruption(
    root: str | Path, corruption: str, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """`(images, labels, n)` of `root/<corruption>.npy` (memory-mapped) and `root/labels.npy`;
    `n` images per severity. With `limit`, only the first `limit` of each severity are kept."""
    root = Path(root)
    fix = (
        f"put the released CIFAR-10-C/CIFAR-100-C files (<corruption>.npy and {LABELS_FILE}) "
        "in that folder, or leave out --corruption-root to generate a set"
    )
    for path in (root / f"{corruption}.npy", root / LABELS_FILE):
        if not path.is_file():
            raise DataError(f"corruption file {path} is missing: {fix}")
    try:
        images = np.load(root / f"{corruption}.npy", mmap_mode="r")
        labels = np.load(root / LABELS_FILE)
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read corruption files in {root}: {err}; {fix}") from None
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise DataError(f"{root / corruption}.npy must hold uint8 (N, H, W[, C]) images: {fix}")
    if len(images) != len(labels) or len(images) % len(SEVERITIES):
        raise DataError(
            f"{root / corruption}.npy has {len(images)} images and {LABELS_FILE} {len(labels)} "
            f"labels; both must be 5 severities x N test images: {fix}"
        )
    n = len(images) // len(SEVERITIES)
    if limit is not None and limit < n:
        keep = np.concatenate([np.arange(s * n, s * n + limit) for s in range(len(SEVERITIES))])
        return images[keep], labels[keep], limit
    return images, labels, n


@torch.no_grad()
def corruption_accuracy(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    per_severity: int,
    severities: Sequence[int] = SEVERITIES,
    batch_size: int = 500,
    device: torch.device | str = "cpu",
) -> dict[int, float]:
    """Accuracy (fraction) per severity of `model` (taking [0, 1] pixels, eval mode) on a set
    in the released layout."""
    was_training = model.training
    model.eval()
    result = {}
    for severity in severities:
        start = (severity - 1) * per_severity
        hits = 0
        for lo in range(start, start + per_severity, batch_size):
            hi = min(lo + batch_size, start + per_severity)
            batch = torch.from_numpy(np.array(images[lo:hi]))  # a copy: memory maps are read-only
            batch = batch[..., None] if batch.ndim == 3 else batch
            pixels = batch.to(device).permute(0, 3, 1, 2).float() / 255.0
            target = torch.from_numpy(np.asarray(labels[lo:hi], dtype=np.int64)).to(device)
            hits += int((model(pixels).argmax(dim=1) == target).sum())
        result[severity] = hits / per_severity
    model.train(was_training)
    return result


def evaluate_corruptions(
    model: nn.Module,
    root: str | Path,
    corruptions: Sequence[str] = CORRUPTIONS,
    severities: Sequence[int] = SEVERITIES,
    input_shape: tuple[int, int, int] | None = None,
    limit: int | None = None,
    batch_size: int = 500,
    device: torch.device | str = "cpu",
) -> dict[str, dict]:
    """Per corruption `{"severity": {s: acc}, "mean": acc}` and `"mean"` over corruptions
    (fractions). `input_shape` (C, H, W) checks that the files fit the model. Any name of the
    released sets is accepted; a generated folder holds only the ten it was made with."""
    check_corruption_args(corruptions, severities, released=True)
    per_corruption = {}
    for name in corruptions:
        images, labels, n = load_corruption(root, name, limit)
        if input_shape is not None:
            channels = images.shape[3] if images.ndim == 4 else 1
            if (channels, *images.shape[1:3]) != tuple(input_shape):
                raise DataError(
                    f"{Path(root) / name}.npy holds {images.shape[1]}x{images.shape[2]}x"
                    f"{channels} images but the model takes {input_shape[1]}x{input_shape[2]}x"
                    f"{input_shape[0]}; pass the -C folder of the checkpoint's dataset, or leave "
                    "out --corruption-root to generate one"
                )
        accuracy = corruption_accuracy(
            model, images, labels, n, severities, batch_size=batch_size, device=device
        )
        per_corruption[name] = {
            "severity": accuracy,
            "mean": float(np.mean(list(accuracy.values()))),
        }
    mean = float(np.mean([entry["mean"] for entry in per_corruption.values()]))
    return {"corruptions": per_corruption, "mean": mean}
