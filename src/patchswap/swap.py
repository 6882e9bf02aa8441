"""The intra-class patch swap op (paper section 3.2), batched and vectorized.

Semantics (DESIGN.md section 2, following the paper's text rather than its listing):
each image is cut into a `grid x grid` table of cells; for every pair independently, with
probability `p`, `k ~ Uniform{1, ..., grid*grid - 1}` distinct cells are chosen uniformly and
exchanged between `xa` and `xb` at the same location. Unswapped pairs are returned unchanged.

Cell borders: row border `i` (0 <= i <= grid) sits at `floor(i * H / grid + 1/2)` (round half
up), and likewise for columns, so every pixel belongs to exactly one cell also when `H` or `W`
is not a multiple of `grid`; cells then differ in size by at most one pixel.
"""

from __future__ import annotations

import functools

import torch

from .errors import PatchswapError
from .infra import argument_checks as check


def cell_borders(size: int, grid: int) -> list[int]:
    """Pixel borders of `grid` cells along an axis of `size` pixels (round half up)."""
    return [(2 * i * size + grid) // (2 * grid) for i in range(grid + 1)]


def cell_coordinates(height: int, width: int, grid: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel cell row `(H,)` and cell column `(W,)` indices."""
    rows = torch.bucketize(
        torch.arange(height), torch.tensor(cell_borders(height, grid)[1:-1]), right=True
    )
    cols = torch.bucketize(
        torch.arange(width), torch.tensor(cell_borders(width, grid)[1:-1]), right=True
    )
    return rows, cols


@functools.lru_cache(maxsize=64)
def _cell_expanders(height: int, width: int, grid: int, device: str):
    """One-hot `(H, g)` and `(g, W)` float matrices mapping cells to pixels (cached)."""
    rows, cols = cell_coordinates(height, width, grid)
    one_hot = torch.nn.functional.one_hot
    return one_hot(rows, grid).float().to(device), one_hot(cols, grid).float().T.to(device)


def cell_index_map(height: int, width: int, grid: int) -> torch.Tensor:
    """(H, W) long tensor: the row-major cell id (0 .. grid*grid-1) of every pixel."""
    rows, cols = cell_coordinates(height, width, grid)
    return rows[:, None] * grid + cols[None, :]


def validate_swap_args(height: int, width: int, grid: int, p: float) -> None:
    """Raise a one-line error for a grid or probability the op cannot honour."""
    check.integer("grid", grid, 1, " (4 means 4x4 cells)")
    if grid > min(height, width):
        raise PatchswapError(
            f"grid={grid} is larger than the image ({height}x{width}); "
            f"use grid <= {min(height, width)}"
        )
    check.probability("p", p)


def sample_swap_mask(
    batch: int,
    grid: int,
    p: float,
    *,
    one_cell: bool = False,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(B, grid, grid) bool mask of swapped cells, drawn as the op draws it.

    `one_cell=True` reproduces the paper's printed listing, which indexes `[0]` of the chosen
    cells and so swaps exactly one cell per swapped pair (ablation only).
    """
    cells = grid * grid
    draw_on = generator.device if generator is not None else device
    swapped = torch.rand(batch, device=draw_on, generator=generator) < p
    # k ~ U{1..cells-1}: `randint` high is exclusive. With one cell (grid=1) nothing can move.
    k = torch.randint(1, max(cells, 2), (batch, 1), device=draw_on, generator=generator)
    if one_cell:
        k = torch.ones_like(k)
    # A uniformly random k-subset: the cells whose rank in a random permutation is below k.
    ranks = torch.rand(batch, cells, device=draw_on, generator=generator).argsort(1).argsort(1)
    mask = (ranks < k) & swapped[:, None] & (cells > 1)
    return mask.view(batch, grid, grid).to(device)


def patch_swap(
    xa: torch.Tensor,
    xb: torch.Tensor,
    grid: int = 4,
    p: float = 0.5,
    generator: torch.Generator | None = None,
    *,
    one_cell: bool = False,
    return_mask: bool = False,
):
    """Exchange random grid cells between intra-class pairs `xa[i]`, `xb[i]`.

    Args:
        xa: `(B, C, H, W)` anchor images; pair `i` is `(xa[i], xb[i])` and must share a
            label. Not modified.
        xb: `(B, C, H, W)` partner images, of `xa`'s shape, dtype and device. Not modified.
        grid: cells per side, an integer in `[1, min(H, W)]` (`4` is the paper's "4x4");
            `1` is the identity.
        p: probability in `[0, 1]` that a pair is swapped at all (`p_r` in the paper); `0` is
            the identity.
        generator: optional `torch.Generator` for reproducible draws (any device).
        one_cell: swap exactly one cell per swapped pair, as the paper's listing does.
        return_mask: also return the `(B, grid, grid)` bool mask of swapped cells.

    Returns:
        (tuple): `(xa_hat, xb_hat)` or `(xa_hat, xb_hat, mask)`, new tensors.
    """
    check.tensor("xa", xa, 4, "(B, C, H, W)")
    check.tensor("xb", xb, 4, "(B, C, H, W)")
    check.same("xa", xa, "xb", xb, "shape", "dtype", "device")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise check.fail("generator", generator, "a torch.Generator or None")
    check.flag("one_cell", one_cell)
    check.flag("return_mask", return_mask)
    batch, _, height, width = xa.shape
    validate_swap_args(height, width, grid, p)
    grid, p = int(grid), float(p)
    mask = sample_swap_mask(
        batch, grid, p, one_cell=one_cell, generator=generator, device=xa.device
    )
    # Expand the cell mask to pixels as `rows @ mask @ cols` with one-hot cell matrices: a tiny
    # batched matmul, faster than index gathers on CPU and GPU, and exact for 0/1 values.
    rows, cols = _cell_expanders(height, width, grid, str(xa.device))
    pixels = (rows @ mask.float() @ cols > 0.5)[:, None]  # (B, 1, H, W), broadcast over C
    xa_hat = torch.where(pixels, xb, xa)
    xb_hat = torch.where(pixels, xa, xb)
    return (xa_hat, xb_hat, mask) if return_mask else (xa_hat, xb_hat)
