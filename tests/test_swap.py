"""Semantics of the patch swap op (DESIGN.md section 2)."""

import numpy as np
import pytest
import torch

from patchswap import patch_swap
from patchswap.errors import PatchswapError
from patchswap.swap import cell_borders, cell_index_map, sample_swap_mask


def pair(batch=64, channels=3, height=32, width=32, dtype=torch.float32):
    xa = torch.rand(batch, channels, height, width).to(dtype)
    xb = torch.rand(batch, channels, height, width).to(dtype) + 2  # disjoint value ranges
    return xa, xb


def pixel_mask(mask, height, width):
    grid = mask.shape[-1]
    return mask.view(len(mask), -1)[:, cell_index_map(height, width, grid)]


def test_cells_swapped_per_pair_in_range():
    xa, xb = pair(batch=2000)
    _, _, mask = patch_swap(xa, xb, grid=4, p=1.0, return_mask=True)
    counts = mask.view(len(mask), -1).sum(1)
    assert counts.min() == 1 and counts.max() == 15
    # k ~ U{1..15}: every count occurs, roughly equally often.
    histogram = torch.bincount(counts, minlength=16)[1:]
    assert (histogram > 0).all()
    assert histogram.float().std() / histogram.float().mean() < 0.3


def test_swap_probability_matches_p():
    xa, xb = pair(batch=4000, height=8, width=8)
    _, _, mask = patch_swap(xa, xb, grid=4, p=0.3, return_mask=True)
    rate = mask.view(len(mask), -1).any(1).float().mean().item()
    assert abs(rate - 0.3) < 0.03


def test_exact_exchange_at_same_location():
    xa, xb = pair(batch=32, height=30, width=30)
    a_hat, b_hat, mask = patch_swap(xa, xb, grid=4, p=1.0, return_mask=True)
    swapped = pixel_mask(mask, 30, 30)[:, None].expand_as(xa)
    assert torch.equal(a_hat[swapped], xb[swapped])
    assert torch.equal(b_hat[swapped], xa[swapped])
    assert torch.equal(a_hat[~swapped], xa[~swapped])
    assert torch.equal(b_hat[~swapped], xb[~swapped])


def test_pixel_content_preserved_and_inputs_untouched():
    xa, xb = pair(batch=16)
    copies = xa.clone(), xb.clone()
    a_hat, b_hat = patch_swap(xa, xb, grid=4, p=1.0)
    assert torch.equal(xa, copies[0]) and torch.equal(xb, copies[1])
    # The pair as a whole keeps exactly its pixels, per location.
    assert torch.equal(
        torch.sort(torch.stack([a_hat, b_hat]), 0).values,
        torch.sort(torch.stack([xa, xb]), 0).values,
    )
    assert not torch.equal(a_hat, xa)


@pytest.mark.parametrize("kwargs", [{"grid": 1, "p": 1.0}, {"grid": 4, "p": 0.0}])
def test_identity_cases(kwargs):
    xa, xb = pair(batch=8)
    a_hat, b_hat, mask = patch_swap(xa, xb, return_mask=True, **kwargs)
    assert torch.equal(a_hat, xa) and torch.equal(b_hat, xb) and not mask.any()


@pytest.mark.parametrize("size, grid", [(28, 4), (30, 4), (7, 3), (33, 5), (4, 4)])
def test_odd_sizes_every_pixel_in_one_cell(size, grid):
    borders = cell_borders(size, grid)
    assert borders[0] == 0 and borders[-1] == size
    widths = [b - a for a, b in zip(borders, borders[1:])]
    assert min(widths) >= 1 and max(widths) - min(widths) <= 1
    cells = cell_index_map(size, size + 1, grid)
    assert cells.shape == (size, size + 1)
    assert set(cells.unique().tolist()) == set(range(grid * grid))


def test_round_half_up_borders_documented():
    assert cell_borders(30, 4) == [0, 8, 15, 23, 30]  # 7.5 -> 8, 22.5 -> 23
    assert cell_borders(32, 4) == [0, 8, 16, 24, 32]


def test_non_square_and_grid_cells_match_mask():
    xa, xb = pair(batch=8, height=12, width=20)
    a_hat, _, mask = patch_swap(xa, xb, grid=2, p=1.0, return_mask=True)
    for i in range(8):
        for r, (r0, r1) in enumerate([(0, 6), (6, 12)]):
            for c, (c0, c1) in enumerate([(0, 10), (10, 20)]):
                source = xb if mask[i, r, c] else xa
                assert torch.equal(a_hat[i, :, r0:r1, c0:c1], source[i, :, r0:r1, c0:c1])


def test_deterministic_under_generator():
    xa, xb = pair(batch=16)
    runs = [
        patch_swap(
            xa, xb, grid=4, p=0.5, return_mask=True, generator=torch.Generator().manual_seed(7)
        )
        for _ in range(2)
    ]
    assert all(torch.equal(u, v) for u, v in zip(*runs))
    other = patch_swap(
        xa, xb, grid=4, p=0.5, return_mask=True, generator=torch.Generator().manual_seed(8)
    )
    assert not torch.equal(runs[0][2], other[2])


def test_one_cell_variant_swaps_exactly_one_cell():
    xa, xb = pair(batch=256, height=8, width=8)
    _, _, mask = patch_swap(xa, xb, grid=4, p=1.0, one_cell=True, return_mask=True)
    assert (mask.view(256, -1).sum(1) == 1).all()


def test_cell_choice_is_uniform_over_locations():
    mask = sample_swap_mask(20000, 4, 1.0, generator=torch.Generator().manual_seed(0))
    frequency = mask.float().mean(0)  # each cell: E[k]/16 = 0.5
    assert torch.allclose(frequency, torch.full((4, 4), 0.5), atol=0.02)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.uint8, torch.float64])
def test_dtypes(dtype):
    xa = torch.randint(0, 100, (4, 3, 16, 16)).to(dtype)
    xb = torch.randint(100, 200, (4, 3, 16, 16)).to(dtype)
    a_hat, b_hat = patch_swap(xa, xb, grid=4, p=1.0)
    assert a_hat.dtype == dtype and b_hat.dtype == dtype


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available on this machine")
def test_cuda_matches_semantics_with_cpu_generator():
    xa, xb = (t.cuda() for t in pair(batch=8))
    a_hat, b_hat, mask = patch_swap(
        xa, xb, grid=4, p=1.0, return_mask=True, generator=torch.Generator().manual_seed(0)
    )
    assert a_hat.is_cuda and mask.is_cuda
    swapped = pixel_mask(mask.cpu(), 32, 32)[:, None].expand(8, 3, 32, 32).cuda()
    assert torch.equal(a_hat[swapped], xb[swapped])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"grid": 0}, "grid=0"),
        ({"grid": 40}, "larger than the image"),
        ({"p": 1.5}, "p=1.5"),
        ({"p": -0.1}, "p=-0.1"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, message):
    xa, xb = pair(batch=2)
    with pytest.raises(PatchswapError, match=message):
        patch_swap(xa, xb, **kwargs)


def test_shape_mismatch_is_rejected():
    with pytest.raises(PatchswapError, match="same shape"):
        patch_swap(torch.zeros(2, 3, 8, 8), torch.zeros(3, 3, 8, 8))


def test_numpy_scalars_are_accepted_for_grid_and_p():
    xa, xb = pair(batch=4, height=8, width=8)
    a, b = patch_swap(xa, xb, grid=np.int64(2), p=np.float32(0.0))
    assert torch.equal(a, xa) and torch.equal(b, xb)


@pytest.mark.parametrize("p", ["0.5", True, None, float("nan")])
def test_non_numeric_p_is_rejected(p):
    xa, xb = pair(batch=2)
    with pytest.raises(PatchswapError, match="p="):
        patch_swap(xa, xb, p=p)
