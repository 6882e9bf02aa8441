"""How many samples of an ordinary shuffled batch have no same-class partner in it.

`in_batch_partners` (and `method.pairs: batch`) leave those samples on cross-entropy only.
Measured by drawing 2,000 batches of uniformly distributed labels per setting and counting
`alone`; the closed form for uniform classes is `(1 - 1/C)^(B-1)`.

    python benchmarks/alone_in_batch.py
"""

from __future__ import annotations

import torch

from patchswap import in_batch_partners

BATCHES = 2000


def main() -> None:
    generator = torch.Generator().manual_seed(0)
    print("| classes | batch | alone, measured | alone, (1 - 1/C)^(B-1) |")
    print("|---:|---:|---:|---:|")
    for classes in (10, 100):
        for batch in (64, 128, 256):
            alone = 0
            for _ in range(BATCHES):
                labels = torch.randint(classes, (batch,), generator=generator)
                alone += int(in_batch_partners(labels, generator)[1].sum())
            measured = 100 * alone / (BATCHES * batch)
            formula = 100 * (1 - 1 / classes) ** (batch - 1)
            print(f"| {classes} | {batch} | {measured:.2f}% | {formula:.2f}% |")


if __name__ == "__main__":
    main()
