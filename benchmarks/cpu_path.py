"""Benchmark: the trainer's CPU path against the model's own limit, the old defaults and a
hand-written loop, on real Fashion-MNIST (recipe fashion_mnist/patchswap: resnet8, 500 images
per class).

Prints, from one process run:

1. the machine: a 2048 x 2048 fp32 matmul in GFLOP/s, and the model's fwd+bwd FLOPs per image;
2. the model-bound limit: fwd + bwd + SGD of the same model, batch and memory format on
   resident tensors (64 images for hard label, 128 for patch swap), images/s and GFLOP/s;
3. the trainer's training throughput for hard label and patch swap and its ratio to (2);
4. a demo epoch (train + evaluation of the 10,000 test images) with the old defaults
   (`data.loader=dataloader`, contiguous layout, `eval_batch_size=1000`) and the new ones,
   and their ratio;
5. what a user would write by hand: `DataLoader(shuffle=True, num_workers=2)` with
   torchvision transforms v2 and a plain CE loop over the same images, against the trainer;
6. per-epoch overheads as a share of the epoch: building the loaders, capturing the RNG
   state, writing `last.pt`;
7. threads (1 vs the default) for the model-bound step; with `--compile`, `torch.compile`'s
   compile time and compiled throughput.

    python benchmarks/cpu_path.py [--samples-per-class 500] [--repeats 3] [--compile]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode
from torchvision.transforms import v2

from patchswap.checkpoint import save_checkpoint
from patchswap.engine import Trainer
from patchswap.engine.loaders import build_loaders
from patchswap.engine.reproducibility import rng_state
from patchswap.models import build_model
from patchswap.recipes import find_recipe
from patchswap.runs import load_config

OLD_DEFAULTS = ["data.loader=dataloader", "channels_last=false", "eval_batch_size=1000"]


def median_seconds(fn: Callable[[], None], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_gflops(repeats: int) -> float:
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    return 2 * 2048**3 / median_seconds(lambda: a @ b, max(repeats, 5)) / 1e9


def train_flops_per_image(model: torch.nn.Module, shape: tuple[int, ...]) -> float:
    x = torch.randn(8, *shape)
    counter = FlopCounterMode(display=False)
    with counter:
        model(x).sum().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / 8


def model_bound(
    shape: tuple[int, ...],
    batch: int,
    layout: torch.memory_format,
    passes: int = 1,
    steps: int = 30,
) -> float:
    """Images/s of `passes` forwards of `batch` images + one backward + SGD on resident
    tensors: the most any data path can reach (patch swap: 2 passes, Algorithm 1)."""
    model = build_model("resnet8", 10, shape[0]).to(memory_format=layout)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, *shape).contiguous(memory_format=layout)
    y = torch.randint(0, 10, (batch,))

    def step() -> None:
        loss = sum(F.cross_entropy(model(x), y) for _ in range(passes))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(5):
        step()
    return passes * batch * steps / median_seconds(lambda: [step() for _ in range(steps)], 3)


def demo_trainer(method: str, spc: int, extra: list[str], folder: Path) -> Trainer:
    overrides = [f"data.samples_per_class={spc}", "progress=false", f"output_dir={folder}"]
    if method == "hard_label":
        overrides.append("method=hard_label")
    recipe = find_recipe("fashion_mnist/patchswap")
    return Trainer(load_config(recipe, overrides + extra), quiet=True)


def epoch_seconds(trainer: Trainer, epoch: int) -> tuple[float, float, float]:
    """(train s, evaluation s, training images/s) of one epoch."""
    record = trainer.train_epoch(epoch)
    start = time.perf_counter()
    trainer.evaluate()
    return record["train_seconds"], time.perf_counter() - start, record["images_per_second"]


def hand_written_epoch(trainer: Trainer, workers: int) -> float:
    """Seconds for one epoch of what a user writes: shuffled DataLoader + transforms v2 + CE."""
    data = trainer.data
    images, labels = data.in_memory.train, data.train_labels  # uint8 (N, C, H, W)
    height = images.shape[-1]
    transform = v2.Compose(
        [
            v2.RandomCrop(height, padding=trainer.cfg.data.crop_padding),
            v2.RandomHorizontalFlip(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(data.mean, data.std),
        ]
    )
    dataset = _TensorImages(images, labels, transform)
    loader = DataLoader(
        dataset,
        batch_size=trainer.cfg.batch_size,
        shuffle=True,
        num_workers=workers,
        persistent_workers=False,
    )
    model = build_model("resnet8", data.num_classes, data.in_channels)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    start = time.perf_counter()
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


class _TensorImages(torch.utils.data.Dataset):
    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.transform(self.images[index]), int(self.labels[index])


def overheads(trainer: Trainer, folder: Path, repeats: int) -> dict[str, float]:
    """Seconds of the per-epoch work outside the training and evaluation loops."""
    cfg, data = trainer.cfg, trainer.data
    method, env, device = trainer.method, trainer.env, trainer.device
    return {
        "build loaders": median_seconds(
            lambda: build_loaders(cfg, data, method.paired, method.views, env, device), repeats
        ),
        "capture RNG state": median_seconds(rng_state, repeats),
        "write last.pt": median_seconds(
            lambda: save_checkpoint(trainer.state_dict(1), folder / "last.pt"), repeats
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples-per-class", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="hand-written loop's workers")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    args = parser.parse_args()
    spc = args.samples_per_class
    folder = Path(tempfile.mkdtemp(prefix="cpu_path-"))
    shape = (1, 28, 28)
    cl = torch.channels_last

    gflops = matmul_gflops(args.repeats)
    flops = train_flops_per_image(build_model("resnet8", 10, 1), shape)
    print(
        f"cpu, {torch.get_num_threads()} threads (interop {torch.get_num_interop_threads()}), "
        f"torch {torch.__version__} | 2048^2 fp32 matmul {gflops:.1f} GFLOP/s | resnet8 on "
        f"1x28x28: {flops / 1e9:.4f} GFLOP per image fwd+bwd | Fashion-MNIST {spc}/class"
    )

    def as_gflops(images_per_s: float) -> str:
        achieved = images_per_s * flops / 1e9
        return f"{achieved:5.1f} GFLOP/s = {achieved / gflops:5.1%} of matmul"

    print("\n| what | images/s | GFLOP/s (share of matmul) | ratio |")
    print("|---|---:|---:|---:|")
    for method, passes in (("hard_label", 1), ("patchswap", 2)):
        trainer = demo_trainer(method, spc, [], folder / method)
        trainer.train_epoch(1)  # warm-up: allocator, oneDNN primitives
        rates, limits = [], []
        for epoch in range(2, 2 + args.repeats):
            limits.append(model_bound(shape, 64, cl, passes))
            rates.append(trainer.train_epoch(epoch)["images_per_second"])
        limit, rate = statistics.median(limits), statistics.median(rates)
        print(
            f"| model-bound limit, {passes} x 64 images/step, channels_last | {limit:.0f} | "
            f"{as_gflops(limit)} | |"
        )
        print(
            f"| trainer, {method} ({passes} x 64 images/step) | {rate:.0f} | "
            f"{as_gflops(rate)} | {rate / limit:.2f} of limit |"
        )

    print("\n| demo epoch (train + eval of 10k) | old defaults s | new defaults s | speed-up |")
    print("|---|---:|---:|---:|")
    for method in ("hard_label", "patchswap"):
        old = demo_trainer(method, spc, OLD_DEFAULTS, folder / f"old-{method}")
        new = demo_trainer(method, spc, [], folder / f"new-{method}")
        epoch_seconds(old, 1), epoch_seconds(new, 1)  # warm-up
        olds, news = [], []
        for epoch in range(2, 2 + args.repeats):
            olds.append(sum(epoch_seconds(old, epoch)[:2]))
            news.append(sum(epoch_seconds(new, epoch)[:2]))
        o, n = statistics.median(olds), statistics.median(news)
        print(f"| {method} | {o:.1f} | {n:.1f} | {o / n:.2f}x |")
    parts = epoch_seconds(new, 2 + args.repeats)
    print(f"(new patchswap epoch: train {parts[0]:.1f} s, evaluation {parts[1]:.1f} s)")

    trainer = demo_trainer("hard_label", spc, [], folder / "hand")
    trainer.train_epoch(1)
    hand = statistics.median(hand_written_epoch(trainer, args.workers) for _ in range(2))
    ours = statistics.median(
        trainer.train_epoch(e)["train_seconds"] for e in range(2, 2 + args.repeats)
    )
    print(
        f"\nhand-written loop (DataLoader shuffle, transforms v2, {args.workers} workers, "
        f"hard label): {hand:.2f} s/epoch | trainer {ours:.2f} s/epoch | trainer is "
        f"{hand / ours:.2f}x faster"
    )

    epoch = sum(epoch_seconds(new, 10)[:2])
    print("\n| per-epoch overhead (patchswap, new defaults) | seconds | share of epoch |")
    print("|---|---:|---:|")
    for name, seconds in overheads(new, folder, args.repeats).items():
        print(f"| {name} | {seconds:.4f} | {seconds / epoch:.2%} |")

    threads = torch.get_num_threads()
    rates = {}
    for count in sorted({1, threads}):
        torch.set_num_threads(count)
        rates[count] = model_bound(shape, 64, cl)
    torch.set_num_threads(threads)
    print(
        "\nthreads (model-bound, batch 64, channels_last): "
        + ", ".join(f"{count} -> {rate:.0f} images/s" for count, rate in rates.items())
    )
    if args.compile:
        compiled = demo_trainer("patchswap", spc, ["compile=true"], folder / "compiled")
        start = time.perf_counter()
        first = compiled.train_epoch(1)["train_seconds"]
        compile_s = time.perf_counter() - start
        rate = statistics.median(
            compiled.train_epoch(e)["images_per_second"] for e in range(2, 2 + args.repeats)
        )
        print(
            f"torch.compile: first epoch {first:.1f} s (compile included, {compile_s:.1f} s), "
            f"then {rate:.0f} images/s"
        )


if __name__ == "__main__":
    main()
