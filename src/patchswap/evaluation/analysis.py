"""The paper's analyses as plain functions (plots in `plots.py`, Grad-CAM in `gradcam.py`).

- `train_test_gap`: train accuracy on the un-augmented training set vs test accuracy (Table 1).
- `conv_gradients_on_batch`: mean |gradient| per conv layer on one batch (Figure 4; the trainer
  logs the same per epoch under `log_analysis`, `engine.step_stats`, as it does Figure 5's
  pair statistics).
- `predictive_distribution`: average top-k class probabilities of one true class, for correctly
  and wrongly classified samples (Figures 2 and 8).
- `hyperparameter_grid`: best top-1 of runs over two config keys (Figure 10).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from ..engine.accuracy import evaluate
from ..engine.step_stats import conv_layers
from ..errors import PatchswapError


def train_test_gap(
    model: nn.Module, train_eval: Iterable, test: Iterable, device: torch.device | str
) -> dict[str, float]:
    """`{"train_top1", "test_top1", "gap"}` in percent, from loaders over the un-augmented
    training set (`DataBundle.train_eval`, its labels noisy if the run had label noise) and
    the test set."""
    train = evaluate(model, train_eval, device)["top1"]
    test_top1 = evaluate(model, test, device)["top1"]
    return {"train_top1": train, "test_top1": test_top1, "gap": train - test_top1}


def conv_gradients_on_batch(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor
) -> dict[str, float]:
    """Mean |d CE / d weight| per conv layer on one batch, in eval mode, without touching the
    model's `.grad` (a post-hoc stand-in for Figure 4, which averages during training)."""
    layers = conv_layers(model)
    was_training = model.training
    model.eval()
    with torch.enable_grad():
        loss = F.cross_entropy(model(images).float(), labels)
        grads = torch.autograd.grad(loss, [conv.weight for _, conv in layers], allow_unused=True)
    model.train(was_training)
    return {
        name: float(g.abs().mean()) if g is not None else 0.0 for (name, _), g in zip(layers, grads)
    }


def predictive_distribution(
    probs: np.ndarray,
    labels: np.ndarray,
    class_index: int,
    class_names: Sequence[str],
    top_k: int = 5,
) -> dict[str, Any]:
    """Average probability vector of the test samples of `class_index`, separately for correct
    and misclassified ones, as its `top_k` (class name, probability) pairs (Figures 2 and 8)."""
    if not 0 <= class_index < probs.shape[1]:
        raise PatchswapError(
            f"class index {class_index} is outside 0..{probs.shape[1] - 1}; pick a class of "
            "the dataset"
        )
    members = labels == class_index
    correct = probs.argmax(axis=1) == labels
    result: dict[str, Any] = {"class": class_names[class_index], "class_index": class_index}
    for group, mask in (("correct", members & correct), ("misclassified", members & ~correct)):
        mean = probs[mask].mean(axis=0) if mask.any() else np.zeros(probs.shape[1])
        top = np.argsort(-mean, kind="stable")[: min(top_k, probs.shape[1])]
        result[group] = {
            "count": int(mask.sum()),
            "top": [(class_names[i], float(mean[i])) for i in top],
        }
    return result


@dataclass
class HeatMap:
    """Mean best top-1 (%) per cell of two config keys; NaN where no run has that pair."""

    x_key: str
    y_key: str
    x_values: list
    y_values: list
    values: np.ndarray  # (len(y_values), len(x_values))
    counts: np.ndarray  # runs per cell (seeds are averaged)


def _config_value(config: dict[str, Any], key: str, folder: Path) -> Any:
    value: Any = config
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            valid = ", ".join(sorted(value)) if isinstance(value, dict) else "none"
            raise PatchswapError(
                f"run {str(folder)!r} has no config key {key!r} (at {part!r}; keys there: "
                f"{valid}); name a dotted key of its config.yaml, e.g. method.gamma"
            )
        value = value[part]
    return value


def _sorted_values(values: set) -> list:
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    return sorted(values) if numbers else sorted(values, key=str)


def hyperparameter_grid(run_folders: Sequence[str | Path], x_key: str, y_key: str) -> HeatMap:
    """Read each run's `config.yaml` and `summary.json`; cell = mean `best_top1` of the runs
    with that (x, y) pair (Figure 10 shows the best top-1 of each combination)."""
    cells: dict[tuple, list[float]] = {}
    for folder in map(Path, run_folders):
        config_path, summary_path = folder / "config.yaml", folder / "summary.json"
        if not (config_path.is_file() and summary_path.is_file()):
            raise PatchswapError(
                f"{str(folder)!r} is not a finished run folder (needs config.yaml and "
                "summary.json); pass folders written by `patchswap train`"
            )
        config = yaml.safe_load(config_path.read_text())
        best = json.loads(summary_path.read_text())["best_top1"]
        key = (_config_value(config, x_key, folder), _config_value(config, y_key, folder))
        cells.setdefault(key, []).append(best)
    xs = _sorted_values({x for x, _ in cells})
    ys = _sorted_values({y for _, y in cells})
    values = np.full((len(ys), len(xs)), math.nan)
    counts = np.zeros((len(ys), len(xs)), dtype=int)
    for (x, y), bests in cells.items():
        values[ys.index(y), xs.index(x)] = float(np.mean(bests))
        counts[ys.index(y), xs.index(x)] = len(bests)
    return HeatMap(x_key, y_key, xs, ys, values, counts)
