"""Benchmark: the two CPU levers that became defaults, each alone, in one process run.

1. channels_last vs contiguous: fwd + bwd + SGD of resnet8 on 1x28x28, batch 64, resident
   tensors (training) and an inference-mode forward over 10,000 images (evaluation);
2. evaluation batch size 256 vs 1000 (channels_last).

Prints images/s and the ratios (medians of `--repeats` interleaved rounds).

    python benchmarks/cpu_levers.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from patchswap.models import build_model

LAYOUTS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


def train_rate(layout: torch.memory_format, batch: int = 64, steps: int = 30) -> float:
    model = build_model("resnet8", 10, 1).to(memory_format=layout)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 1, 28, 28).contiguous(memory_format=layout)
    y = torch.randint(0, 10, (batch,))
    for step in range(steps + 5):
        if step == 5:
            start = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return batch * steps / (time.perf_counter() - start)


@torch.inference_mode()
def eval_rate(layout: torch.memory_format, batch: int, images: int = 10_000) -> float:
    model = build_model("resnet8", 10, 1).eval().to(memory_format=layout)
    x = torch.randn(images, 1, 28, 28)
    model(x[:batch].contiguous(memory_format=layout))
    start = time.perf_counter()
    for first in range(0, images, batch):
        model(x[first : first + batch].contiguous(memory_format=layout))
    return images / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cases = {
        "train, contiguous": lambda: train_rate(LAYOUTS["contiguous"]),
        "train, channels_last": lambda: train_rate(LAYOUTS["channels_last"]),
        "eval batch 1000, contiguous": lambda: eval_rate(LAYOUTS["contiguous"], 1000),
        "eval batch 1000, channels_last": lambda: eval_rate(LAYOUTS["channels_last"], 1000),
        "eval batch 256, channels_last": lambda: eval_rate(LAYOUTS["channels_last"], 256),
    }
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeats):  # interleaved, so load on the machine hits every case
        for name, case in cases.items():
            rates[name].append(case())
    rate = {name: statistics.median(values) for name, values in rates.items()}
    print(f"cpu, {torch.get_num_threads()} threads, torch {torch.__version__}, resnet8 1x28x28")
    print("| case | images/s |\n|---|---:|")
    for name, value in rate.items():
        print(f"| {name} | {value:.0f} |")
    train = rate["train, channels_last"] / rate["train, contiguous"]
    evaluation = rate["eval batch 1000, channels_last"] / rate["eval batch 1000, contiguous"]
    batch = rate["eval batch 256, channels_last"] / rate["eval batch 1000, channels_last"]
    print(
        f"channels_last / contiguous: train {train:.2f}x, eval {evaluation:.2f}x | "
        f"eval batch 256 / 1000 (channels_last): {batch:.2f}x"
    )


if __name__ == "__main__":
    main()
