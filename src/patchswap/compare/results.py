"""The files of a finished grid: results.md, results.csv and results.json, each written
atomically."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from ..infra.atomic_files import atomic_write_text
from .grid import Cell
from .stats import mean_std
from .tables import Row, row_values


def write_results(
    folder: Path,
    rows: list[Row],
    cells: list[Cell],
    summaries: list[dict[str, Any]],
    text: str,
    metrics: list[dict[str, float]] | None = None,
) -> None:
    """results.md (the tables), results.csv (one line per row), results.json (rows and cells);
    rows as `Row.record` names them (a dense row with its per-class means and stds); with
    `metrics` (one dict per cell, `--evaluate`) each metric's mean and std per row too.

    Each file is written atomically: a kill leaves the previous version, never a torn one.
    """
    atomic_write_text(folder / "results.md", text)
    values = row_values(cells, metrics) if metrics else {}
    names = list(next(iter(values.values()))) if values else []
    extra = [f"{m}_{stat}" for m in names for stat in ("mean", "std")]
    records = [row.record() for row in rows]
    table = io.StringIO(newline="")
    names_in_rows = list(dict.fromkeys(key for record in records for key in record))
    writer = csv.DictWriter(table, fieldnames=names_in_rows + extra)
    writer.writeheader()
    for row, record in zip(rows, records):
        line = dict(record)
        for m in names:
            line[f"{m}_mean"], line[f"{m}_std"] = mean_std(values[row.label][m])
        writer.writerow({k: "" if v is None else v for k, v in line.items()})
    atomic_write_text(folder / "results.csv", table.getvalue())
    payload = {
        "rows": records,
        "cells": [
            {"row": c.row, "recipe": str(c.recipe), "seed": c.seed, "folder": str(c.folder), **s}
            for c, s in zip(cells, summaries)
        ],
    }
    if metrics:
        payload["metrics"] = {
            label: {m: dict(zip(("mean", "std"), mean_std(v))) for m, v in row.items()}
            for label, row in values.items()
        }
        for entry, measured in zip(payload["cells"], metrics):
            entry["metrics"] = measured
    atomic_write_text(folder / "results.json", json.dumps(payload, indent=2) + "\n")
