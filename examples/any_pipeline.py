"""Patch swap in a pipeline that owns its data loading: an `IterableDataset` of `(x, y)`.

A streaming source cannot take `IntraClassPairSampler`; `PatchSwapObjective` pairs each sample
with another of its class in the same ordinary batch. Run: `python examples/any_pipeline.py`
(a few steps on random stand-in data; swap in your stream and model).
"""

from __future__ import annotations

import argparse

import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

from patchswap import PatchSwapObjective


class RandomStream(IterableDataset):
    """Stand-in for a stream of `(image, label)` samples (WebDataset, HF streaming, ...)."""

    def __init__(self, samples: int, classes: int, seed: int) -> None:
        self.samples, self.classes, self.seed = samples, classes, seed

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed)
        for _ in range(self.samples):
            label = int(torch.randint(self.classes, (), generator=generator))
            image = torch.rand(1, 28, 28, generator=generator) + 0.1 * label
            yield image, label


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    torch.manual_seed(0)

    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))  # fmt: skip
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    objective = PatchSwapObjective(grid=4, p=0.5)  # temperature 4, gamma = alpha = 1

    loader = DataLoader(RandomStream(args.samples, 10, seed=0), batch_size=args.batch_size)
    for step, (x, y) in enumerate(loader):
        loss, parts = objective(model, x, y, return_parts=True)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 8 == 0:
            terms = " ".join(f"{k} {v.item():.3f}" for k, v in parts.items())
            print(f"step {step:3d} | loss {loss.item():.3f} | {terms}")
    return loss.item()


if __name__ == "__main__":
    main()
