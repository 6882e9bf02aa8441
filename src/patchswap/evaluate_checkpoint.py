"""`patchswap eval`: rebuild a checkpoint's model and data from its saved config and evaluate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .engine.accuracy import evaluate
from .engine.loaders import build_eval_loader
from .evaluation.suite import load_for_evaluation


def evaluate_checkpoint(
    path: str | Path, overrides: list[str] = (), split: str = "test"
) -> dict[str, Any]:
    """Top-1/top-5/loss of a `last.pt`, `best.pt` or run folder on its dataset's split.

    `overrides` change the saved config before use (e.g. `data.root=/elsewhere`, `device=cpu`).
    """
    run = load_for_evaluation(path, overrides)
    dataset = run.data.test if split == "test" else run.data.train_eval
    loader = build_eval_loader(
        dataset, run.cfg.eval_batch_size, run.cfg.data.num_workers, run.device.type == "cuda"
    )
    metrics = evaluate(run.model, loader, run.device, run.memory_format)
    return {"checkpoint": str(path), "epoch": run.epoch, "split": split, **metrics}
