"""Benchmark: the vectorized `patch_swap` vs a per-sample loop that follows the paper's listing.

The loop is the paper's printed code (unfold, swap the chosen columns pair by pair, fold), with
the text's semantics (k ~ U{1..g*g-1} cells, unswapped pairs kept). Both run on the same batch
in one process, interleaved, and the script prints the ratio of their median times.

    python benchmarks/swap_op.py [--batch 128] [--size 32] [--grid 4] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from common import device_label, synchronizer

from patchswap import patch_swap


def listing_loop(xa: torch.Tensor, xb: torch.Tensor, grid: int, p: float):
    """The paper's listing, one pair at a time (requires H and W divisible by `grid`)."""
    size = xa.shape[-1] // grid
    cells = grid * grid
    ua = F.unfold(xa, kernel_size=size, stride=size)  # (B, C*size*size, cells)
    ub = F.unfold(xb, kernel_size=size, stride=size)
    for uai, ubi in zip(ua, ub):
        if torch.rand(1).item() < p:
            idx = torch.randperm(cells)[: torch.randint(1, cells, (1,)).item()]
            uai[:, idx], ubi[:, idx] = ubi[:, idx].clone(), uai[:, idx].clone()
    fold = dict(output_size=xa.shape[-2:], kernel_size=size, stride=size)
    return F.fold(ua, **fold), F.fold(ub, **fold)


def median_seconds(fn, repeats: int, sync) -> float:
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--grid", type=int, default=4)
    parser.add_argument("--p", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    device = torch.device(args.device)
    sync = synchronizer(device)
    xa = torch.rand(args.batch, 3, args.size, args.size, device=device)
    xb = torch.rand(args.batch, 3, args.size, args.size, device=device)
    ours = lambda: patch_swap(xa, xb, grid=args.grid, p=args.p)  # noqa: E731
    loop = lambda: listing_loop(xa, xb, args.grid, args.p)  # noqa: E731
    for fn in (ours, loop):  # warm-up
        fn()
    t_ours, t_loop = [], []
    for _ in range(5):  # interleave rounds so machine noise hits both alike
        t_ours.append(median_seconds(ours, args.repeats, sync))
        t_loop.append(median_seconds(loop, max(args.repeats // 5, 3), sync))
    ours_s, loop_s = statistics.median(t_ours), statistics.median(t_loop)
    print(
        f"device: {device_label(device)} | batch {args.batch} x 3x{args.size}x{args.size}, "
        f"grid {args.grid}, p {args.p}"
    )
    print(f"vectorized patch_swap : {ours_s * 1e3:8.3f} ms")
    print(f"per-sample listing    : {loop_s * 1e3:8.3f} ms")
    print(f"speed-up              : {loop_s / ours_s:8.1f}x  (target >= 50x)")


if __name__ == "__main__":
    main()
