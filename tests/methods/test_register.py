"""`register_method`: a method defined outside the package trains through the engine."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import patchswap
from patchswap.checkpoint import load_checkpoint
from patchswap.errors import PatchswapError
from patchswap.methods import METHODS, Batch, Method, StepOutput, register_method
from patchswap.runs import load_config, train


@dataclass
class SharpenedOptions:
    sharpness: float = 1.0


class Sharpened(Method):
    """Cross-entropy on logits scaled by `sharpness`: a user's method, outside the package."""

    name = "test_sharpened_ce"
    Options = SharpenedOptions

    def forward(self, model: nn.Module, batch: Batch) -> StepOutput:
        logits = model(batch.images)
        loss = F.cross_entropy(self.options.sharpness * logits.float(), batch.targets)
        return StepOutput({"sharpened_ce": loss}, logits, batch.targets)


class Doubled(Method):
    """Reports every sample twice and always right, and a scalar per epoch."""

    name = "test_doubled_rows"

    def on_epoch_start(self, epoch: int) -> dict[str, float]:
        return {"share": epoch / 4}

    def forward(self, model: nn.Module, batch: Batch) -> StepOutput:
        logits = model(batch.images)
        right = logits.detach() + 100 * F.one_hot(batch.targets, logits.shape[1])
        loss = F.cross_entropy(logits.float(), batch.targets)
        rows, targets = torch.cat([right, right]), batch.targets.repeat(2)
        return StepOutput({"ce": loss}, rows, targets, samples=len(batch.targets))


@pytest.fixture
def registry():
    """The registry as it was before the test, whatever the test registers."""
    saved = dict(METHODS)
    yield METHODS
    METHODS.clear()
    METHODS.update(saved)


def test_a_registered_method_trains_through_the_engine(registry, tiny_run, tmp_path):
    assert patchswap.register_method is register_method
    assert register_method(Sharpened) is Sharpened
    assert register_method(Sharpened) is Sharpened  # again: a no-op
    overrides = tiny_run("epochs=1", "method={name: test_sharpened_ce, sharpness: 2.0}")
    summary = train(load_config(None, overrides), quiet=True)
    assert summary["method"] == "test_sharpened_ce"
    folder = tmp_path / "runs" / "tiny"
    record = json.loads((folder / "metrics.jsonl").read_text())
    assert math.isfinite(record["train_sharpened_ce"])
    method = load_checkpoint(folder)["config"]["method"]
    assert method == {"name": "test_sharpened_ce", "sharpness": 2.0}


def test_the_trainer_counts_and_prints_what_the_method_reports(
    registry, tiny_run, tmp_path, capsys
):
    """Train accuracy over the rows the step reports (not the batch's images), and the
    scalars of `on_epoch_start` logged and printed whatever their names."""
    register_method(Doubled)
    train(load_config(None, tiny_run("method=test_doubled_rows")))
    out, _ = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.startswith("epoch")]
    assert "| share 0.25 |" in lines[0] and "| share 0.50 |" in lines[1]
    log = tmp_path / "runs" / "tiny" / "metrics.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["train_top1"] for r in records] == [100.0, 100.0]
    assert [r["share"] for r in records] == [0.25, 0.5]


def test_register_method_refuses_what_it_cannot_run(registry):
    class Impostor(Method):
        name = "patchswap"

    class Nameless(Method):
        pass

    class Loose(Method):
        name = "test_loose"
        Options = dict

    cases = [
        (Impostor, "method name 'patchswap' is taken by patchswap.methods.patchswap.PatchSwap"),
        (Nameless, "Nameless needs a class attribute name"),
        (Loose, "Loose.Options must be a dataclass"),
        (nn.Linear, "register_method takes a Method subclass"),
    ]
    for cls, message in cases:
        with pytest.raises(PatchswapError, match=message):
            register_method(cls)
    assert METHODS["patchswap"].__name__ == "PatchSwap"
