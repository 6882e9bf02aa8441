"""Top-1 / top-5 accuracy, mean cross-entropy and logits of a plain forward pass over a loader.

The trainer evaluates every epoch with these and `patchswap.evaluation` builds on them (it
imports the engine, never the reverse).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn


def topk_hits(logits: torch.Tensor, targets: torch.Tensor, ks: Iterable[int]) -> torch.Tensor:
    """Per k, the number of samples whose target is among the top-k logits (k capped at K),
    as a tensor on the logits' device: summing it over steps needs no host sync."""
    ks = list(ks)
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
    hits = top == targets[:, None]
    return torch.stack([hits[:, :k].any(dim=1).sum() for k in ks])


def topk_correct(logits: torch.Tensor, targets: torch.Tensor, ks: Iterable[int]) -> list[int]:
    """`topk_hits` as Python ints."""
    return topk_hits(logits, targets, ks).tolist()


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    device: torch.device | str,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> dict[str, float]:
    """`{"top1", "top5", "loss", "samples"}` of `model` in eval mode over `loader`, in percent.

    Sums stay on the device until the end, so the loop never waits for the GPU. Images are
    laid out in `memory_format` (the model's: channels_last models want channels_last input).
    """
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # top-1 hits, top-5 hits, loss
    seen = 0
    for images, targets, *_ in loader:
        images = images.to(device, memory_format=memory_format)
        targets = targets.to(device)
        logits = model(images).float()
        sums[:2] += topk_hits(logits, targets, (1, 5))
        sums[2] += F.cross_entropy(logits, targets, reduction="sum")
        seen += len(targets)
    model.train(was_training)
    correct1, correct5, loss_sum = sums.tolist()
    denominator = max(seen, 1)  # a distributed shard may be empty
    return {
        "top1": 100.0 * correct1 / denominator,
        "top5": 100.0 * correct5 / denominator,
        "loss": loss_sum / denominator,
        "samples": seen,
    }


@torch.inference_mode()
def collect_logits(
    model: nn.Module, loader: Iterable, device: torch.device | str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Float32 CPU logits (N, K) and labels (N,) of `model` in eval mode over `loader`."""
    was_training = model.training
    model.eval()
    logits, labels = [], []
    for images, targets, *_ in loader:
        logits.append(model(images.to(device)).float().cpu())
        labels.append(targets)
    model.train(was_training)
    return torch.cat(logits), torch.cat(labels).long()


@torch.no_grad()
def correct_predictions(
    model: nn.Module,
    loader: Iterable,
    device: torch.device | str,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> torch.Tensor:
    """A CPU bool per sample of `loader`, in its order: whether the top-1 prediction is the
    label (per-sample, where `evaluate` only sums)."""
    was_training = model.training
    model.eval()
    hits = []
    for images, targets, *_ in loader:
        logits = model(images.to(device, memory_format=memory_format))
        hits.append((logits.argmax(1) == targets.to(device)).cpu())
    model.train(was_training)
    return torch.cat(hits) if hits else torch.zeros(0, dtype=torch.bool)
