"""Shared by the integration tests: a tiny classifier (each framework trains it a few steps)
and the checks of a two-process DDP run's per-rank records."""

import json
from pathlib import Path

import pytest
from torch import nn

from patchswap import AdaptivePr


def tiny_net(classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, classes),
    )


def read_rank_records(folder: Path) -> dict:
    """The two DDP ranks' per-epoch records (`rank0.jsonl`, `rank1.jsonl`), by (epoch, rank)."""
    text = "".join((folder / f"rank{rank}.jsonl").read_text() for rank in (0, 1))
    rows = {(r["epoch"], r["rank"]): r for r in map(json.loads, text.splitlines())}
    assert sorted(rows) == [(e, rank) for e in (1, 2, 3) for rank in (0, 1)]
    return rows


def assert_ranks_share_the_adaptive_p(rows: dict) -> None:
    """Every rank reads the summed swapped-pair accuracy of both ranks' previous epoch."""
    for epoch in (2, 3):
        before = [rows[epoch - 1, rank]["hits"] for rank in (0, 1)]
        assert [hits[1] for hits in before] == [32.0, 32.0]  # 16 samples a rank, 2 views each
        accuracy = sum(hits[0] for hits in before) / 64  # both ranks' hits, not one rank's
        for rank in (0, 1):
            assert rows[epoch, rank]["accuracy"] == pytest.approx(accuracy)
            assert rows[epoch, rank]["p"] == pytest.approx(AdaptivePr()(epoch, accuracy))
    # (where the two ranks' hits differ, which their own batches make likely but not certain,
    # the equal accuracies above can only come from the sum)
