"""Patch swap combined with CutMix / Cutout / MixUp (Table 13): mix, then swap."""

import pytest
import torch
from recipe_run import train_recipe_one_epoch
from torch import nn

from patchswap.augment import CutMix, Cutout, MixUp, mixed_cross_entropy
from patchswap.errors import PatchswapError
from patchswap.losses import SelfDistillationLoss
from patchswap.methods import Batch, MethodContext, build_method
from patchswap.swap import patch_swap

CONTEXT = MethodContext(num_classes=4, epochs=1, image_size=(8, 8), in_channels=1)
B = 6
TARGETS = torch.tensor([0, 1, 2, 3, 0, 1] * 2)  # anchors, then same-class partners


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 4))


def pair_batch():
    images = torch.randn(2 * B, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    return Batch(images, TARGETS, torch.arange(2 * B))


def step(spec, seed=1):
    net = model()
    method = build_method({"name": "patchswap", **spec}, net, CONTEXT)
    torch.manual_seed(seed)
    return method(net, pair_batch()), net


def test_option_off_is_the_plain_method_bit_for_bit():
    """The pre-mix forward, written out: swap, one forward, `SelfDistillationLoss`."""
    batch = pair_batch()
    for spec in ({}, {"mix": "none"}):
        out, net = step(spec)
        torch.manual_seed(1)
        xa, xb = patch_swap(batch.images[:B], batch.images[B:], grid=4, p=0.5)
        logits = net(torch.cat([xa, xb]))
        expected = SelfDistillationLoss().components(logits[:B], logits[B:], TARGETS[:B])
        assert out.losses.keys() == expected.keys()
        assert all(torch.equal(out.losses[k], expected[k]) for k in expected)


@pytest.mark.parametrize(
    "mix, options, augment",
    [
        ("cutmix", {"prob": 1.0}, CutMix(prob=1.0)),
        ("mixup", {"alpha": 1.0}, MixUp()),
        ("cutout", {"length": 4, "reference_size": 8}, Cutout(4, reference_size=8)),
    ],
)
def test_mix_then_swap_then_mixed_ce_and_plain_kl(mix, options, augment):
    out, net = step({"mix": mix, "mix_options": options, "p": 1.0})
    batch = pair_batch()
    torch.manual_seed(1)
    mixed = augment(batch.images, TARGETS, groups=2)
    xa, xb = patch_swap(mixed.images[:B], mixed.images[B:], grid=4, p=1.0)
    logits = net(torch.cat([xa, xb]))
    ya, yb = mixed.targets_a[:B], mixed.targets_b[:B]
    plain = SelfDistillationLoss().components(logits[:B], logits[B:], ya)
    expected = {
        "ce_a": 0.5 * mixed_cross_entropy(logits[:B], ya, yb, mixed.lam),
        "ce_b": 0.5 * mixed_cross_entropy(logits[B:], ya, yb, mixed.lam),
        "kl_ab": plain["kl_ab"],
        "kl_ba": plain["kl_ba"],
    }
    for key, value in expected.items():
        assert torch.equal(out.losses[key], value), key
    assert torch.equal(out.targets, TARGETS)


@pytest.mark.parametrize("augment", [CutMix(prob=1.0), MixUp()])
def test_both_halves_share_permutation_and_lambda(augment):
    images = torch.randn(2 * B, 3, 8, 8)
    ids = torch.arange(B).repeat(2)  # pair i is (i, i + B)
    out = augment(images, ids, torch.Generator().manual_seed(4), groups=2)
    index = out.targets_b[:B]
    assert torch.equal(out.targets_b[B:], index) and not torch.equal(index, torch.arange(B))
    partner = torch.cat([index, index + B])  # each half mixes within itself, same permutation
    if isinstance(augment, MixUp):
        expected = out.lam * images + (1 - out.lam) * images[partner]
        assert torch.equal(out.images, expected)
    else:
        pasted = out.images != images
        assert torch.equal(pasted[:B], pasted[B:])  # the same box in both halves
        assert torch.equal(out.images[pasted], images[partner][pasted])


@pytest.mark.parametrize("augment", [CutMix(prob=1.0), MixUp()])
def test_after_the_swap_pair_images_keep_identical_label_mixes(augment):
    """Constant images valued by class: mix + swap must leave each pair pixel-identical,
    so `(targets_a, targets_b, lam)` is exactly right for both swapped images."""
    classes = TARGETS.float().view(-1, 1, 1, 1).expand(2 * B, 1, 8, 8)
    g = torch.Generator().manual_seed(7)
    mixed = augment(classes, TARGETS, g, groups=2)
    xa, xb = patch_swap(mixed.images[:B], mixed.images[B:], grid=4, p=1.0, generator=g)
    assert torch.equal(xa, xb)
    assert torch.equal(mixed.targets_a[:B], mixed.targets_a[B:])
    assert torch.equal(mixed.targets_b[:B], mixed.targets_b[B:])


def test_cutout_holes_are_independent_in_each_half():
    images = torch.ones(2 * 32, 1, 32, 32)
    holes = Cutout()(images, torch.zeros(64), torch.Generator().manual_seed(0), groups=2)
    zeroed = holes.images == 0
    assert not torch.equal(zeroed[:32], zeroed[32:]) and holes.lam == 1.0


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"mix": "cutmax"}, "method.mix='cutmax' is unknown; valid: none, cutout, cutmix, mixup"),
        ({"mix": "cutmix", "mix_options": {"alpha": 1}}, "unknown key method.mix_options.alpha"),
        ({"mix_options": {"prob": 1.0}}, "needs method.mix"),
        ({"mix": "cutmix", "mix_options": {"prob": 2.0}}, "CutMix prob=2.0 is not a probability"),
    ],
)
def test_bad_mix_options_are_one_line(spec, message):
    with pytest.raises(PatchswapError) as err:
        build_method({"name": "patchswap", **spec}, model(), CONTEXT)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_patchswap_cutmix_trains_one_epoch_from_its_recipe(tiny_run, tmp_path):
    overrides = tiny_run("epochs=1", "method.p=0.1")  # the p_r sweep of Table 13
    record = train_recipe_one_epoch(
        "fashion_mnist/augment/patchswap_cutmix", overrides, tmp_path / "runs" / "tiny"
    )
    assert record["p_r"] == 0.1
    parts = sum(record[f"train_{k}"] for k in ("ce_a", "ce_b", "kl_ab", "kl_ba"))
    assert parts == pytest.approx(record["train_loss"], rel=1e-5)
