"""Benchmark: the same recipe and global batch with 1 process and with N processes (torchrun).

Reports training seconds per epoch, the speed-up and scaling efficiency (speed-up / N), and
the final test metrics of both runs, which should agree closely: the global
batch, lr and data are the same; only per-process batch-norm statistics differ (unless
distributed.sync_bn is on, CUDA only). On CPU the processes use gloo and share the cores, so
this checks correctness and overhead; on a multi-GPU machine it measures scaling.

    python benchmarks/ddp_scaling.py [--processes 2] [--recipe fashion_mnist/hard_label]
        [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def run(processes: int, recipe: str, overrides: list[str], out: Path) -> list[dict]:
    name = f"p{processes}"
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={processes}",
    ]
    command = [*launcher, "-m", "patchswap", "train", recipe, "--quiet"]
    for item in [*overrides, f"output_dir={out}", f"name={name}"]:
        command += ["--set", item]
    threads = max(1, (os.cpu_count() or 1) // processes)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run(command, check=True, env=env)
    lines = (out / name / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--recipe", default="fashion_mnist/hard_label")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    overrides = args.overrides or ["epochs=2", "data.samples_per_class=200", "batch_size=64"]
    with tempfile.TemporaryDirectory() as folder:
        one = run(1, args.recipe, overrides, Path(folder))
        many = run(args.processes, args.recipe, overrides, Path(folder))
    t1 = sum(r["train_seconds"] for r in one) / len(one)
    tn = sum(r["train_seconds"] for r in many) / len(many)
    print(f"recipe {args.recipe} {' '.join(overrides)}")
    print(
        f"1 process : {t1:7.2f} s/epoch (train) | last test top1 {one[-1]['test_top1']:.2f} "
        f"loss {one[-1]['test_loss']:.4f}"
    )
    print(
        f"{args.processes} processes: {tn:7.2f} s/epoch (train) | last test top1 "
        f"{many[-1]['test_top1']:.2f} loss {many[-1]['test_loss']:.4f}"
    )
    print(f"speed-up {t1 / tn:.2f}x, scaling efficiency {t1 / tn / args.processes:.0%}")


if __name__ == "__main__":
    main()
