"""`patchswap eval`: rebuild a checkpoint's model and data from its saved config and evaluate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import apply_overrides, build_config
from .data import build_datasets
from .engine.checkpoint import load_checkpoint, load_model_weights
from .engine.loaders import build_eval_loader
from .engine.trainer import resolve_device
from .evaluation import evaluate
from .models import build_model


def evaluate_checkpoint(
    path: str | Path, overrides: list[str] = (), split: str = "test"
) -> dict[str, Any]:
    """Top-1/top-5/loss of a `last.pt`, `best.pt` or run folder on its dataset's split.

    `overrides` change the saved config before use (e.g. `data.root=/elsewhere`, `device=cpu`).
    """
    state = load_checkpoint(path)
    cfg = build_config(apply_overrides(state["config"], list(overrides)))
    device = resolve_device(cfg.device)
    data = build_datasets(cfg.data)
    model = build_model(cfg.model.name, data.num_classes, data.in_channels, **cfg.model.kwargs)
    load_model_weights(model, state, str(path))
    dataset = data.test if split == "test" else data.train_eval
    loader = build_eval_loader(
        dataset, cfg.eval_batch_size, cfg.data.num_workers, device.type == "cuda"
    )
    metrics = evaluate(model.to(device), loader, device)
    return {"checkpoint": str(path), "epoch": state["epoch"], "split": split, **metrics}
