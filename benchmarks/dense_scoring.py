"""Benchmark: memory and time of segmentation scoring (the confusion matrix) on CPU.

Each case runs in a fresh subprocess: it builds the inputs as the trainer passes them
(predictions `argmax` int64, masks int64 with void 255), then scores them `--repeats` times
with deterministic algorithms on, as a run's default. Memory is the process's peak resident set
(`ru_maxrss`) after scoring minus its resident set (`/proc/self/statm`) once the inputs exist:
every page the scoring touched, whichever allocator asked for it, an upper bound on what it
needs above the inputs. Time is the median wall-clock of one scoring call.

The old method (torchmetrics' `MulticlassConfusionMatrix`, whose deterministic path builds an
N x C^2 mesh) runs only on one 128 x 128 image: on the batches below it would need 15-120 GB.

    python benchmarks/dense_scoring.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

# name, batch, height, width, classes, method
CASES = [
    ("Cityscapes batch", 8, 1024, 2048, 19, "new"),
    ("VOC batch", 8, 513, 513, 21, "new"),
    ("VOC, one 128 x 128 image", 1, 128, 128, 21, "new"),
    ("VOC, one 128 x 128 image", 1, 128, 128, 21, "old"),
]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _inputs(batch: int, height: int, width: int, classes: int) -> tuple[torch.Tensor, ...]:
    """Seeded predictions and masks (10% void), built without large temporaries."""
    generator = torch.Generator().manual_seed(0)
    shape = (batch, height, width)
    target = torch.randint(0, classes, shape, generator=generator, dtype=torch.int64)
    for row in target.view(-1, width):  # void rows, 1 in 10, one row at a time
        if torch.rand((), generator=generator) < 0.1:
            row.fill_(255)
    prediction = torch.randint(0, classes, shape, generator=generator, dtype=torch.int64)
    return prediction, target


def _run_case(index: int, repeats: int) -> dict:
    """One case, in this (fresh) process: peak RSS above the inputs and median time."""
    from patchswap.dense.metrics import confusion_counts

    name, batch, height, width, classes, method = CASES[index]
    prediction, target = _inputs(batch, height, width, classes)
    torch.use_deterministic_algorithms(True)
    if method == "old":
        from torchmetrics.classification import MulticlassConfusionMatrix

        def score() -> torch.Tensor:
            return MulticlassConfusionMatrix(classes, ignore_index=255)(prediction, target)
    else:

        def score() -> torch.Tensor:
            return confusion_counts(prediction, target, classes)

    before = _rss_bytes()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        counts = score()
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    pixels = prediction.numel()
    return {
        "name": name,
        "method": method,
        "shape": f"{batch} x {height} x {width}",
        "classes": classes,
        "input_mib": (prediction.nbytes + target.nbytes) / 2**20,
        "above_inputs_mib": (peak - before) / 2**20,
        "bytes_per_pixel": (peak - before) / pixels,
        "seconds": statistics.median(times),
        "scored": int(counts.sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--case", type=int, help=argparse.SUPPRESS)  # the subprocess's case
    args = parser.parse_args()
    if args.case is not None:
        print(json.dumps(_run_case(args.case, args.repeats)))
        return
    print(f"torch {torch.__version__}, cpu ({torch.get_num_threads()} threads)\n")
    print(
        "| case | method | pixels (N x H x W) | classes | inputs | peak RSS above inputs "
        "| per pixel | time |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for index in range(len(CASES)):
        out = subprocess.run(
            [sys.executable, __file__, "--case", str(index), "--repeats", str(args.repeats)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out.splitlines()[-1])
        method = "bincount, chunked" if r["method"] == "new" else "torchmetrics mesh (old)"
        print(
            f"| {r['name']} | {method} | {r['shape']} | {r['classes']} | "
            f"{r['input_mib']:.1f} MiB | {r['above_inputs_mib']:.1f} MiB | "
            f"{r['bytes_per_pixel']:.1f} B | {r['seconds'] * 1e3:.1f} ms |"
        )


if __name__ == "__main__":
    main()
