"""Shared by the baseline method tests: train a recipe through the CLI, and resume it."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from patchswap.checkpoint import load_checkpoint
from patchswap.cli import main


def train(recipe: str, overrides: list[str]) -> None:
    """`patchswap train RECIPE --set ... --quiet`, which must succeed."""
    sets = [arg for override in overrides for arg in ("--set", override)]
    assert main(["train", recipe, *sets, "--quiet"]) == 0


def train_recipe_one_epoch(recipe: str, overrides: list[str], folder: Path) -> dict[str, Any]:
    """Train `recipe` with the `tiny_run` overrides; return the epoch's metrics record.

    `folder` is the run folder the overrides name.
    """
    train(recipe, overrides)
    (line,) = (folder / "metrics.jsonl").read_text().splitlines()
    record = json.loads(line)
    assert math.isfinite(record["train_loss"]), record
    return record


def assert_resume_continues_the_run(
    recipe: str, tiny_run: Callable[..., list[str]], runs: Path
) -> dict[str, Any]:
    """Two epochs in one go must equal one epoch, then a resume for the second: same weights
    and same method state (its memories, carried batches, heads). Returns that checkpoint."""
    same = ("schedule.name=constant", "data.augment=true")  # the lr must not depend on `epochs`
    train(recipe, tiny_run("epochs=2", "name=full", *same))
    train(recipe, tiny_run("epochs=1", "name=part", *same))
    assert main(["train", "--resume", str(runs / "part"), "--set", "epochs=2", "--quiet"]) == 0
    full, part = load_checkpoint(runs / "full"), load_checkpoint(runs / "part")
    assert full["epoch"] == part["epoch"] == 2
    for section in ("model", "method"):
        assert full[section].keys() == part[section].keys(), section
        for key, value in full[section].items():
            other = part[section][key]
            if isinstance(value, dict):  # a method's extra state
                assert value.keys() == other.keys(), key
                assert all(torch.equal(value[k], other[k]) for k in value), key
            else:
                assert torch.equal(value, other), f"{section}.{key}"
    return full
