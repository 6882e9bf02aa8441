"""Benchmark: one study plan's wall time with `--jobs 1` and with `--jobs 2`, in one run.

Writes a small exploratory plan (hard label vs patch swap on Fashion-MNIST, `--seeds` seeds
each, `--per-class` images per class, `--epochs` epochs, resnet8) to a temporary folder and
runs it twice through `patchswap study`, into separate output folders: once with `--jobs 1`
(every cell in this order, one process) and once with `--jobs 2` (two cells at once, each with
half the cores). Prints both wall times, their ratio, and whether the two results tables agree
once wall times are left out (the grid must not depend on where its cells ran).

    python benchmarks/grid_jobs.py [--seeds 4] [--per-class 100] [--epochs 10] [--data-root DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAN = """title: grid timing (benchmarks/grid_jobs.py)
about: hard label vs patch swap, timed with --jobs 1 and --jobs 2
kind: exploratory
seeds: {seeds}
set: [data.samples_per_class={per_class}, epochs={epochs}, eval_every={epochs}{root}]
groups:
  - name: timing
    recipes: [fashion_mnist/hard_label, fashion_mnist/patchswap]
claims:
  - claim: patch swap differs from hard label
    source: hypothesis
    group: timing
    row: patchswap
    metric: last_top1
    expect: higher
"""


def without_times(value: object) -> object:
    """A results.json with every wall time left out."""
    if isinstance(value, dict):
        return {k: without_times(v) for k, v in value.items() if "second" not in k}
    if isinstance(value, list):
        return [without_times(v) for v in value]
    return value


def run_plan(plan: Path, jobs: int, folder: Path) -> tuple[float, object]:
    """Wall seconds of `patchswap study plan --jobs N`, and its results without times."""
    command = [sys.executable, "-m", "patchswap", "study", str(plan), "--quiet", "--readme", ""]
    command += ["--jobs", str(jobs), "--output-dir", str(folder / "cells")]
    command += ["--docs-dir", str(folder / "pages")]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=os.environ.copy())
    seconds = time.perf_counter() - start
    results = json.loads((folder / "pages" / plan.stem / "results.json").read_text())
    return seconds, without_times(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--data-root", default=None, help="Fashion-MNIST .gz folder")
    args = parser.parse_args()
    root = f", data.root={args.data_root}" if args.data_root else ""
    with tempfile.TemporaryDirectory() as tmp:
        plan = Path(tmp) / "grid_timing.yaml"
        seeds = list(range(args.seeds))
        plan.write_text(
            PLAN.format(seeds=seeds, per_class=args.per_class, epochs=args.epochs, root=root)
        )
        one, one_results = run_plan(plan, 1, Path(tmp) / "jobs1")
        two, two_results = run_plan(plan, 2, Path(tmp) / "jobs2")
    cells = 2 * args.seeds
    print("| cells | --jobs 1 | --jobs 2 | jobs 2 / jobs 1 | same results |")
    print("|---:|---:|---:|---:|---|")
    same = "yes" if one_results == two_results else "NO"
    print(f"| {cells} | {one:.0f} s | {two:.0f} s | {two / one:.2f}x | {same} |")
    print(
        f"\n{os.cpu_count()} cores; {args.per_class} images per class, {args.epochs} epochs, "
        "resnet8, hard label and patch swap; wall time of the whole `patchswap study` command "
        "(training, evaluation, page)."
    )


if __name__ == "__main__":
    main()
