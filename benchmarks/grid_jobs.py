"""Benchmark: one study plan's wall time with `--jobs 1` and with `--jobs 2`, in one run.

Writes a small exploratory plan (hard label vs patch swap on Fashion-MNIST, `--seeds` seeds
each, `--per-class` images per class, `--epochs` epochs, resnet8) to a temporary folder and
runs it three times through `patchswap study`, into separate output folders: `--jobs 1`
(every cell in turn, one process, torch's default threads), `--jobs 2` (two cells at once,
each with half the cores) and `--jobs 1 --threads T` with T the threads `--jobs 2` gave each
cell. Prints the wall times, the ratio, and whether each run's results equal those of
`--jobs 2` once wall times and folders are left out: a cell's floats depend on its thread
count, so only the run at the same threads should agree.

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


def comparable(value: object, root: str) -> object:
    """A results.json with what may differ between two runs of one grid left out: wall times,
    when it started, and the output folder (`root`) in each cell's path."""
    if isinstance(value, dict):
        return {
            k: comparable(v, root)
            for k, v in value.items()
            if "second" not in k and k not in ("registration", "first_cell_started")
        }
    if isinstance(value, list):
        return [comparable(v, root) for v in value]
    if isinstance(value, str):
        return value.replace(root, "<output>")
    return value


def differences(a: object, b: object, where: str = "") -> list[str]:
    """The paths at which two results differ (the first few), to say what differs."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) | set(b))
        return [d for k in keys for d in differences(a.get(k), b.get(k), f"{where}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]


def run_plan(plan: Path, flags: list[str], folder: Path) -> tuple[float, object]:
    """Wall seconds of `patchswap study plan FLAGS`, and its comparable results."""
    command = [sys.executable, "-m", "patchswap", "study", str(plan), "--quiet", "--readme", ""]
    command += [*flags, "--output-dir", str(folder / "cells")]
    command += ["--docs-dir", str(folder / "pages")]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=os.environ.copy())
    seconds = time.perf_counter() - start
    results = json.loads((folder / "pages" / plan.stem / "results.json").read_text())
    return seconds, comparable(results, str(folder))


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
        threads = max(1, (os.cpu_count() or 1) // 2)
        runs = {
            "--jobs 1": ["--jobs", "1"],
            "--jobs 2": ["--jobs", "2"],
            f"--jobs 1 --threads {threads}": ["--jobs", "1", "--threads", str(threads)],
        }
        measured = {
            name: run_plan(plan, flags, Path(tmp) / f"run{i}")
            for i, (name, flags) in enumerate(runs.items())
        }
    base_seconds, base_results = measured["--jobs 1"]
    _, two_results = measured["--jobs 2"]
    print(
        f"{2 * args.seeds} cells; {os.cpu_count()} cores; {args.per_class} images per class, "
        f"{args.epochs} epochs, resnet8, hard label and patch swap\n"
    )
    print("| run | wall time | over --jobs 1 | results equal --jobs 2's |")
    print("|---|---:|---:|---|")
    for name, (seconds, results) in measured.items():
        differ = differences(results, two_results)
        same = "yes" if not differ else f"no ({len(differ)} values differ)"
        print(f"| `{name}` | {seconds:.0f} s | {seconds / base_seconds:.2f}x | {same} |")
    print("\nWall time of the whole `patchswap study` command (training, evaluation, page).")


if __name__ == "__main__":
    main()
