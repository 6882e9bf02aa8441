"""`PatchSwapObjective`: the method as one call on an ordinary batch, for any pipeline."""

import runpy
from pathlib import Path

import pytest
import torch
from torch import nn

from patchswap import (
    PatchSwapObjective,
    SelfDistillationLoss,
    in_batch_partners,
    matched_pairs,
    patch_swap,
)
from patchswap.errors import PatchswapError

EXAMPLE = Path(__file__).parents[1] / "examples" / "any_pipeline.py"


def small_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(144, 3))


def test_loss_is_the_swap_and_the_loss_of_in_batch_pairs():
    """Spelled out by hand with the same generator draws: partners, swap, two passes, Eq. 3."""
    model = small_model()
    x = torch.randn(10, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 0, 1, 2, 0, 1, 0, 1, 0])  # class 2 is alone
    loss, parts = PatchSwapObjective(grid=2, p=0.7)(
        model, x, y, generator=torch.Generator().manual_seed(5), return_parts=True
    )
    generator = torch.Generator().manual_seed(5)
    partners, alone = in_batch_partners(y, generator)
    xa, xb = patch_swap(x, x[partners], 2, 0.7, generator)
    expected = SelfDistillationLoss().components(model(xa), model(xb), y, paired=~alone)
    for name, value in expected.items():
        assert torch.allclose(parts[name], value), name
    assert torch.allclose(loss, sum(expected.values()))
    assert alone.tolist() == [False] * 4 + [True] + [False] * 5


def test_samples_alone_in_their_class_train_on_cross_entropy_only():
    model = small_model()
    x = torch.randn(3, 1, 8, 8)
    _, parts = PatchSwapObjective()(model, x, torch.tensor([0, 1, 2]), return_parts=True)
    assert parts["kl_ab"] == 0 and parts["kl_ba"] == 0 and parts["ce_a"] > 0


def test_joint_forward_is_one_pass():
    calls = []
    model = small_model()
    model.register_forward_hook(lambda module, args, out: calls.append(len(args[0])))
    x, y = torch.randn(6, 1, 8, 8), torch.tensor([0, 0, 1, 1, 2, 2])
    PatchSwapObjective(forward="joint")(model, x, y)
    PatchSwapObjective()(model, x, y)
    assert calls == [12, 6, 6]


def test_matched_pairing_forwards_the_batch_once_and_spells_out_by_hand():
    calls = []
    model = small_model()
    model.register_forward_hook(lambda module, args, out: calls.append(len(args[0])))
    x = torch.randn(9, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 0, 1, 2, 0, 1, 0, 1])  # 4 zeros, 4 ones: 4 pairs; class 2 alone
    objective = PatchSwapObjective(grid=2, p=0.7, pairing="matched", forward="separate")
    loss, parts = objective(
        model, x, y, generator=torch.Generator().manual_seed(5), return_parts=True
    )
    assert sum(calls) == 9 and calls == [5, 4]  # the anchors and the lone sample, the partners
    calls.clear()
    generator = torch.Generator().manual_seed(5)
    anchors, partners, alone = matched_pairs(y, generator)
    xa, xb = patch_swap(x[anchors], x[partners], 2, 0.7, generator)
    first = model(torch.cat([xa, x[alone]]))
    pair_terms = SelfDistillationLoss().components(first[:4], model(xb), y[anchors])
    expected = {k: v * 8 / 9 for k, v in pair_terms.items()}  # 8 of 9 images are in pairs
    expected["ce_alone"] = nn.functional.cross_entropy(first[4:], y[alone]) / 9
    assert parts.keys() == expected.keys()
    for name, value in expected.items():
        assert torch.allclose(parts[name], value), name
    assert torch.allclose(loss, sum(expected.values()))


def test_matched_pairing_forwards_jointly_by_default_and_never_a_lone_image():
    calls = []
    model = small_model()
    model.register_forward_hook(lambda module, args, out: calls.append(len(args[0])))
    x, y = torch.randn(4, 1, 8, 8), torch.tensor([0, 0, 1, 2])  # a single pair
    PatchSwapObjective(pairing="matched")(model, x, y)
    PatchSwapObjective(pairing="matched", forward="separate")(model, x, y)
    assert calls == [4, 4]  # one pass each: a pass of the lone partner would fail batch norm


def test_matched_pairing_without_any_pair_is_cross_entropy():
    model = small_model()
    x, y = torch.randn(3, 1, 8, 8), torch.tensor([0, 1, 2])
    loss = PatchSwapObjective(pairing="matched")(model, x, y)
    assert torch.allclose(loss, nn.functional.cross_entropy(model(x), y))


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"forward": "both"}, "forward='both' is unknown"),
        ({"grid": 0}, "grid=0"),
        ({"p": 1.5}, "p=1.5"),
        ({"temperature": float("nan")}, "temperature=nan"),
        ({"one_cell": "yes"}, "one_cell='yes'"),
        ({"pairing": "dataset"}, "pairing='dataset' is unknown; valid: batch, matched"),
    ],
)
def test_bad_options_are_one_line(kwargs, words):
    with pytest.raises(PatchswapError, match=words.replace("(", r"\(")):
        PatchSwapObjective(**kwargs)


def test_iterable_dataset_example_trains(capsys):
    namespace = runpy.run_path(str(EXAMPLE))  # not as __main__: main() runs below
    loss = namespace["main"](["--samples", "256", "--batch-size", "32"])
    assert torch.isfinite(torch.tensor(loss))
    assert "step   0 | loss" in capsys.readouterr().out
