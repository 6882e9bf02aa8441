"""Benchmark: a patch swap training step vs a hard-label step over the same 2B images.

Both steps forward and backward the same `2 x batch` images through the same model with SGD;
the patch swap step adds the swap and the symmetric KL. Steps alternate in one process and the
script prints the ratio of median step times and, on CUDA, the peak memory of each.

    python benchmarks/step_overhead.py [--model resnet18] [--batch 64] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import device_label, synchronizer

from patchswap.methods import Batch, MethodContext, build_method
from patchswap.models import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="default: resnet18 on CUDA, resnet20 on CPU")
    parser.add_argument("--batch", type=int, default=64, help="anchors; steps see 2x images")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    device = torch.device(args.device)
    model_name = args.model or ("resnet18" if device.type == "cuda" else "resnet20")
    sync = synchronizer(device)
    model = build_model(model_name, 100).to(device)
    context = MethodContext(
        num_classes=100, epochs=1, image_size=(args.size, args.size), in_channels=3
    )
    methods = {
        name: build_method({"name": name}, model, context) for name in ("hard_label", "patchswap")
    }
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images = torch.randn(2 * args.batch, 3, args.size, args.size, device=device)
    labels = torch.randint(0, 100, (args.batch,), device=device).repeat(2)  # pairs share labels
    batch = Batch(images, labels, torch.arange(2 * args.batch))

    def step(method) -> float:
        sync()
        start = time.perf_counter()
        loss = sum(method(model, batch).losses.values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        sync()
        return time.perf_counter() - start

    times: dict[str, list[float]] = {name: [] for name in methods}
    peaks: dict[str, int] = {}
    for method in methods.values():  # warm-up
        step(method)
    for _ in range(args.steps):
        for name, method in methods.items():
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            times[name].append(step(method))
            if device.type == "cuda":
                peaks[name] = max(peaks.get(name, 0), torch.cuda.max_memory_allocated())
    med = {name: statistics.median(t) for name, t in times.items()}
    print(
        f"device: {device_label(device)} | {model_name}, {2 * args.batch} images/step of "
        f"3x{args.size}x{args.size}"
    )
    for name in methods:
        memory = f" | peak {peaks[name] / 2**20:.0f} MiB" if name in peaks else ""
        print(f"{name:<10}: {med[name] * 1e3:8.1f} ms/step{memory}")
    print(f"overhead  : {med['patchswap'] / med['hard_label']:8.3f}x  (target <= 1.05x)")
    if peaks:
        print(f"memory    : {peaks['patchswap'] / peaks['hard_label']:8.3f}x")


if __name__ == "__main__":
    main()
