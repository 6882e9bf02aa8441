"""Benchmark: the cost of patch swap per epoch, over hard label, on the same recipe.

Trains the Fashion-MNIST recipes through the real trainer (device-resident data path, resnet8)
and prints each variant's median per-epoch training time (evaluation excluded) and its ratio
to hard label, measured in one run: hard label; patch swap with matched pairs
(`method.pairs=matched`: `batch_size` images as disjoint pairs, each image once per epoch);
patch swap with the paper's whole-set partners (`method.pairs=dataset`: `batch_size` anchors
plus as many partners per step); each with the two forwards (`separate`: two passes of half
the pair batch, as Algorithm 1; `joint`: one pass). Variants alternate round by round so a
shared machine's drift falls on all of them; the first epoch of each run (warm-up) is left out.

    python benchmarks/matched_cost.py [--per-class 500] [--epochs 3] [--rounds 2]
        [--device cpu|cuda] [--model resnet8] [--precision fp32|bf16] [--data-root DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch
from common import device_label

from patchswap.recipes import find_recipe
from patchswap.runs import load_config, train

VARIANTS = {
    "hard label": ("fashion_mnist/hard_label", []),
    "matched, separate": ("fashion_mnist/patchswap", ["method.pairs=matched"]),
    "matched, joint": ("fashion_mnist/patchswap", ["method.pairs=matched", "method.forward=joint"]),
    "dataset pairs, separate": ("fashion_mnist/patchswap", []),
    "dataset pairs, joint": ("fashion_mnist/patchswap", ["method.forward=joint"]),
}


def epoch_seconds(recipe: str, overrides: list[str], folder: Path) -> list[float]:
    """Per-epoch training seconds of one run, warm-up epoch left out."""
    train(load_config(find_recipe(recipe), overrides), quiet=True)
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return [r["train_seconds"] for r in records[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=3, help="per run; the first is warm-up")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", default="resnet8")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--data-root", default=None, help="Fashion-MNIST .gz folder")
    args = parser.parse_args()

    seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for name, (recipe, extra) in VARIANTS.items():
                run = f"{name.replace(', ', '_').replace(' ', '_')}_{round_}"
                overrides = [
                    f"data.samples_per_class={args.per_class}",
                    "data.holdout_per_class=null",
                    f"epochs={args.epochs}",
                    f"eval_every={args.epochs}",
                    f"batch_size={args.batch}",
                    f"model.name={args.model}",
                    f"device={args.device}",
                    f"precision={args.precision}",
                    "progress=false",
                    f"output_dir={tmp}",
                    f"name={run}",
                    *([f"data.root={args.data_root}"] if args.data_root else []),
                    *extra,
                ]
                seconds[name] += epoch_seconds(recipe, overrides, Path(tmp) / run)

    reference = statistics.median(seconds["hard label"])
    images = 10 * args.per_class
    print(
        f"Per-epoch training time, {images} Fashion-MNIST images, {args.model}, batch "
        f"{args.batch}, {args.precision}, {device_label(torch.device(args.device))}; median of "
        f"{args.rounds} rounds x {args.epochs - 1} epochs"
    )
    print("| variant | images forwarded per epoch | seconds per epoch | over hard label |")
    print("|---|---:|---:|---:|")
    for name, values in seconds.items():
        forwarded = f"{2 * images}" if name.startswith("dataset") else f"{images}"
        median = statistics.median(values)
        print(f"| {name} | {forwarded} | {median:.2f} | {median / reference:.2f}x |")


if __name__ == "__main__":
    main()
