"""Batch Cutout, CutMix, MixUp against hand-worked boxes and the official formulas."""

import pytest
import torch
import torch.nn.functional as F

from patchswap.augment import (
    CutMix,
    Cutout,
    MixUp,
    box_lambda,
    clipped_span,
    cutmix_box,
    mixed_cross_entropy,
)
from patchswap.errors import PatchswapError


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def constant_images(n, size=16):
    """Image `i` is filled with `i + 1`, so a pixel tells which image it came from."""
    return (torch.arange(n, dtype=torch.float32) + 1).view(n, 1, 1, 1).expand(n, 1, size, size)


@pytest.mark.parametrize(
    "lam, cy, cx, height, width, box, expected_lam",
    [
        (0.75, 3, 4, 8, 8, (1, 5, 2, 6), 0.75),  # sides int(8 * 0.5) = 4, inside the image
        (0.75, 0, 7, 8, 8, (0, 2, 5, 8), 1 - 6 / 64),  # clipped at the top and right borders
        (0.0, 1, 2, 6, 10, (0, 4, 0, 7), 1 - 28 / 60),  # full-size box, clipped on two sides
        (0.9, 4, 4, 8, 8, (3, 5, 3, 5), 1 - 4 / 64),  # int(8 * sqrt(0.1)) = 2
    ],
)
def test_cutmix_box_and_lambda_by_hand(lam, cy, cx, height, width, box, expected_lam):
    assert cutmix_box(lam, cy, cx, height, width) == box
    assert box_lambda(box, height, width) == pytest.approx(expected_lam)


def test_clipped_span():
    lo, hi = clipped_span(torch.tensor([0, 5, 31]), 4, 32)
    assert lo.tolist() == [0, 1, 27] and hi.tolist() == [4, 9, 32]


def test_cutmix_pastes_one_box_from_the_permuted_batch_and_corrects_lambda():
    x, y = constant_images(8), torch.arange(8)
    out = CutMix(prob=1.0)(x, y, gen(3))
    index = out.targets_b  # targets are 0..7, so targets_b is the partner index
    assert sorted(index.tolist()) == list(range(8)) and torch.equal(out.targets_a, y)
    pasted = out.images != x  # (B, 1, H, W): where image i now shows its partner
    moved = index != torch.arange(8)
    box = pasted[moved][0, 0]
    rows, cols = box.any(1).nonzero().flatten(), box.any(0).nonzero().flatten()
    rectangle = torch.zeros_like(box)
    rectangle[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
    assert torch.equal(box, rectangle) and all(torch.equal(p[0], box) for p in pasted[moved])
    assert out.lam == pytest.approx(1 - box.sum().item() / box.numel())
    inside = box.expand_as(out.images[:, 0])
    assert torch.equal(out.images[:, 0][inside], x[index][:, 0][inside])


def test_cutmix_prob_zero_is_identity():
    x, y = torch.randn(4, 3, 8, 8), torch.arange(4)
    out = CutMix(prob=0.0)(x, y, gen())
    assert out.images is x and out.lam == 1.0
    assert torch.equal(out.targets_a, y) and torch.equal(out.targets_b, y)


def test_cutmix_applies_with_probability_prob():
    g, y = gen(), torch.arange(4)
    applied = [CutMix(prob=0.3)(torch.randn(4, 1, 8, 8), y, g).lam < 1 for _ in range(400)]
    assert 0.22 < sum(applied) / 400 < 0.38


def test_mixup_is_the_exact_convex_combination():
    x, y = torch.randn(6, 3, 8, 8), torch.arange(6)
    out = MixUp(alpha=1.0)(x, y, gen(1))
    index = out.targets_b
    assert sorted(index.tolist()) == list(range(6)) and 0 < out.lam < 1
    assert torch.equal(out.images, out.lam * x + (1 - out.lam) * x[index])


def test_mixup_alpha_zero_does_not_mix():
    x, y = torch.randn(4, 3, 8, 8), torch.arange(4)
    out = MixUp(alpha=0.0)(x, y, gen())
    assert out.images is x and out.lam == 1.0 and torch.equal(out.targets_b, y)


def test_beta_lambda_follows_alpha():
    g, x, y = gen(), torch.randn(2, 1, 4, 4), torch.arange(2)
    lams = torch.tensor([MixUp(alpha=0.2)(x, y, g).lam for _ in range(500)])
    assert ((lams < 0.1) | (lams > 0.9)).float().mean() > 0.5  # Beta(0.2, 0.2) is U-shaped
    lams = torch.tensor([MixUp(alpha=1.0)(x, y, g).lam for _ in range(500)])
    assert abs(lams.mean().item() - 0.5) < 0.05 and lams.std().item() > 0.25  # uniform


@pytest.mark.parametrize(
    "size, length, side", [(32, 8, 8), (28, 8, 7), (224, 8, 56), (32, 16, 16), (12, 8, 3)]
)
def test_cutout_side_scales_with_the_image(size, length, side):
    assert Cutout(length=length).side(size) == side


@pytest.mark.parametrize("size, full_area", [(32, 64), (28, 36)])  # side 7 spans +-3: 6x6
def test_cutout_zeroes_one_clipped_square_per_image(size, full_area):
    # never 0 outside a hole: randn draws an exact 0.0 now and then (a CI run failed on one)
    x = torch.rand(400, 3, size, size) + 0.1
    y = torch.zeros(400, dtype=torch.long)
    out = Cutout()(x, y, gen())
    zeroed = out.images == 0
    assert torch.equal(zeroed[:, 0], zeroed[:, 1]) and torch.equal(zeroed[:, 0], zeroed[:, 2])
    assert torch.equal(out.images[~zeroed], x[~zeroed]) and out.lam == 1.0
    area = zeroed[:, 0].sum((1, 2))
    assert area.max() == full_area and area.min() < full_area  # some holes hit a border
    assert all(
        zeroed[i, 0].sum() == zeroed[i, 0].any(1).sum() * zeroed[i, 0].any(0).sum()
        for i in range(20)
    )  # each hole is a rectangle
    assert zeroed[:, 0].float().mean((1, 2)).unique().numel() > 1  # holes are per image


def test_cutout_holes_add_up():
    x, y = torch.ones(200, 1, 32, 32), torch.zeros(200, dtype=torch.long)
    area = (Cutout(holes=3)(x, y, gen()).images == 0).sum((1, 2, 3))
    assert area.max() > 64 and area.max() <= 3 * 64


@pytest.mark.parametrize("make", [Cutout, CutMix, MixUp])
def test_seeded_draws_are_reproducible(make):
    x, y = torch.randn(8, 3, 16, 16), torch.arange(8)
    aug = make(prob=1.0) if make is CutMix else make()
    first, again, other = aug(x, y, gen(5)), aug(x, y, gen(5)), aug(x, y, gen(6))
    assert torch.equal(first.images, again.images) and first.lam == again.lam
    assert torch.equal(first.targets_b, again.targets_b)
    assert not torch.equal(first.images, other.images)


def test_mixed_cross_entropy_is_the_hand_formula():
    logits = torch.randn(5, 4, dtype=torch.float64)
    a, b, lam = torch.tensor([0, 1, 2, 3, 0]), torch.tensor([3, 3, 1, 0, 2]), 0.3
    log_p = logits.log_softmax(1)
    by_hand = -(lam * log_p[range(5), a] + (1 - lam) * log_p[range(5), b]).mean()
    assert mixed_cross_entropy(logits, a, b, lam).item() == pytest.approx(by_hand.item())
    assert torch.equal(mixed_cross_entropy(logits, a, a, 1.0), F.cross_entropy(logits.float(), a))


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: CutMix(prob=1.5), "CutMix prob=1.5 is not a probability"),
        (lambda: CutMix(beta=0.0), "CutMix beta=0.0 must be > 0"),
        (lambda: MixUp(alpha=-1.0), "MixUp alpha=-1.0 must be >= 0"),
        (lambda: Cutout(length=0), "Cutout length=0 must be >= 1"),
        (lambda: MixUp()(torch.zeros(3, 1, 4, 4), torch.zeros(3), groups=2), "groups=2"),
        (lambda: Cutout()(torch.zeros(3, 4, 4), torch.zeros(3)), "(B, C, H, W)"),
    ],
)
def test_bad_arguments_are_one_line_errors(build, message):
    with pytest.raises(PatchswapError, match=None) as err:
        build()
    assert message in str(err.value) and "\n" not in str(err.value)
