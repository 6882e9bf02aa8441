"""Every bad input to the public API is one `PatchswapError` line naming the argument.

Each case: (id, argument name, the bad call, further words the message must contain).
Tensors on the `meta` device stand in for a second device, so the mixed-device cases run
without an accelerator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import pytest
import torch

from patchswap import (
    ConstantPr,
    IntraClassPairSampler,
    ProgressivePr,
    SelfDistillationLoss,
    build_pr_schedule,
    kl_divergence,
    patch_swap,
)
from patchswap.errors import PatchswapError

NAN, INF = float("nan"), float("inf")


class Case(NamedTuple):
    id: str
    argument: str
    call: Callable[[], object]
    words: tuple[str, ...] = ()


def logits(n: int = 4, c: int = 5, **kwargs) -> torch.Tensor:
    return torch.randn(n, c, **kwargs)


def target(*values: int, **kwargs) -> torch.Tensor:
    return torch.tensor(values or (0, 1, 2, 3), **kwargs)


def loss(a=None, b=None, y=None) -> torch.Tensor:
    a = logits() if a is None else a
    return SelfDistillationLoss()(a, logits() if b is None else b, target() if y is None else y)


def images(batch: int = 2, size: int = 8, **kwargs) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, **kwargs)


def swap(xa=None, xb=None, **kwargs):
    return patch_swap(images() if xa is None else xa, images() if xb is None else xb, **kwargs)


def sampler(labels=(0, 0, 1, 1), **kwargs) -> IntraClassPairSampler:
    return IntraClassPairSampler(labels, **kwargs)


CASES = [
    # SelfDistillationLoss hyper-parameters
    Case("temperature_zero", "temperature", lambda: SelfDistillationLoss(temperature=0), ("=0",)),
    Case("temperature_negative", "temperature", lambda: SelfDistillationLoss(temperature=-1)),
    Case("temperature_nan", "temperature", lambda: SelfDistillationLoss(temperature=NAN), ("nan",)),
    Case("temperature_inf", "temperature", lambda: SelfDistillationLoss(temperature=INF), ("inf",)),
    Case("temperature_string", "temperature", lambda: SelfDistillationLoss(temperature="4")),
    Case("gamma_negative", "gamma", lambda: SelfDistillationLoss(gamma=-1), ("-1", ">= 0")),
    Case("gamma_nan", "gamma", lambda: SelfDistillationLoss(gamma=NAN), ("nan", ">= 0")),
    Case("alpha_negative", "alpha", lambda: SelfDistillationLoss(alpha=-0.5), ("-0.5",)),
    Case("alpha_inf", "alpha", lambda: SelfDistillationLoss(alpha=INF), ("inf", "finite")),
    Case("alpha_none", "alpha", lambda: SelfDistillationLoss(alpha=None), ("None",)),
    # SelfDistillationLoss tensors
    Case("logits_1d", "logits_a", lambda: loss(torch.randn(4), torch.randn(4)), ("(N, C)",)),
    Case("logits_list", "logits_a", lambda: loss([[0.0, 1.0]]), ("list", "torch.Tensor")),
    Case("logits_int", "logits_a", lambda: loss(logits().long()), ("int64", "float")),
    Case("logits_shape", "logits_b", lambda: loss(b=logits(c=6)), ("(4, 6)", "(4, 5)")),
    Case("logits_device", "logits_b", lambda: loss(b=logits(device="meta")), ("meta", "cpu")),
    Case("empty_batch", "logits_a", lambda: loss(logits(0), logits(0), target(0)[:0]), ("N=0",)),
    Case("no_classes", "logits_a", lambda: loss(logits(c=0), logits(c=0)), ("C=0",)),
    Case("target_length", "target", lambda: loss(y=target(0, 1, 2)), ("(3,)", "N=4")),
    Case("target_float", "target", lambda: loss(y=target().float()), ("float32", "integer")),
    Case("target_one_hot", "target", lambda: loss(y=torch.eye(4, 5)), ("(4, 5)", "(N,)")),
    Case("target_too_big", "target", lambda: loss(y=target(0, 1, 2, 5)), ("5", "[0, 5)")),
    Case("target_negative", "target", lambda: loss(y=target(0, -1, 2, 3)), ("-1", "[0, 5)")),
    Case("target_device", "target", lambda: loss(y=target(device="meta")), ("meta", "device")),
    # kl_divergence
    Case("kl_temperature_zero", "temperature", lambda: kl_divergence(logits(), logits(), 0)),
    Case("kl_temperature_nan", "temperature", lambda: kl_divergence(logits(), logits(), NAN)),
    Case("kl_shape", "q_logits", lambda: kl_divergence(logits(), logits(3), 1.0), ("shape",)),
    Case("kl_1d", "p_logits", lambda: kl_divergence(torch.randn(5), torch.randn(5), 1.0)),
    Case("kl_empty", "p_logits", lambda: kl_divergence(logits(0), logits(0), 1.0), ("empty",)),
    # patch_swap
    Case("grid_zero", "grid", lambda: swap(grid=0), ("grid=0",)),
    Case("grid_too_large", "grid", lambda: swap(grid=40), ("=40", "larger than the image")),
    Case("grid_float", "grid", lambda: swap(grid=2.0), ("2.0", "integer")),
    Case("grid_bool", "grid", lambda: swap(grid=True), ("True",)),
    Case("p_above_one", "p", lambda: swap(p=1.5), ("p=1.5", "[0, 1]")),
    Case("p_negative", "p", lambda: swap(p=-0.1), ("p=-0.1",)),
    Case("p_nan", "p", lambda: swap(p=NAN), ("p=nan",)),
    Case("p_string", "p", lambda: swap(p="0.5"), ("p='0.5'", "[0, 1]")),
    Case("p_bool", "p", lambda: swap(p=True), ("p=True",)),
    Case("p_none", "p", lambda: swap(p=None), ("p=None",)),
    Case("images_3d", "xa", lambda: swap(images()[0], images()[0]), ("(3, 8, 8)", "(B, C, H, W)")),
    Case("images_list", "xa", lambda: swap([[0.0]], images()), ("list",)),
    Case("images_shape", "xb", lambda: swap(xb=images(batch=3)), ("shape", "(3, 3, 8, 8)")),
    Case("images_dtype", "xb", lambda: swap(xb=images().double()), ("dtype", "float64")),
    Case("images_device", "xb", lambda: swap(xb=images(device="meta")), ("device", "meta")),
    Case("generator_type", "generator", lambda: swap(generator=42), ("42", "torch.Generator")),
    Case("one_cell_string", "one_cell", lambda: swap(one_cell="yes"), ("'yes'",)),
    # IntraClassPairSampler
    Case("labels_empty", "labels", lambda: sampler([]), ("non-empty",)),
    Case("labels_float", "labels", lambda: sampler([0.5, 1.0]), ("integers", "float64")),
    Case("labels_float_tensor", "labels", lambda: sampler(torch.zeros(4)), ("integers",)),
    Case("labels_strings", "labels", lambda: sampler(["cat", "dog"]), ("integers", "'cat'")),
    Case("labels_2d", "labels", lambda: sampler([[0, 1], [1, 0]]), ("1-D", "(2, 2)")),
    Case("labels_ragged", "labels", lambda: sampler([[0], [1, 2]]), ("1-D",)),
    Case("labels_none", "labels", lambda: sampler(None), ("1-D",)),
    Case("batch_size_zero", "batch_size", lambda: sampler(batch_size=0), ("=0",)),
    Case("batch_size_float", "batch_size", lambda: sampler(batch_size=2.5), ("2.5",)),
    Case("batch_size_bool", "batch_size", lambda: sampler(batch_size=True), ("True",)),
    Case("batch_size_string", "batch_size", lambda: sampler(batch_size="8"), ("'8'",)),
    Case("rank_too_big", "rank", lambda: sampler(num_replicas=2, rank=2), ("rank=2",)),
    Case("num_replicas_zero", "num_replicas", lambda: sampler(num_replicas=0), ("=0",)),
    Case("rank_string", "rank", lambda: sampler(rank="0"), ("'0'",)),
    Case("seed_float", "seed", lambda: sampler(seed=1.5), ("1.5", "integer")),
    Case("shuffle_string", "shuffle", lambda: sampler(shuffle="yes"), ("'yes'",)),
    Case("set_epoch_string", "epoch", lambda: sampler().set_epoch("1"), ("'1'",)),
    # schedules
    Case("constant_above_one", "p", lambda: ConstantPr(2), ("p=2",)),
    Case("constant_nan", "p", lambda: ConstantPr(NAN), ("p=nan",)),
    Case("constant_string", "p", lambda: ConstantPr("0.5"), ("p='0.5'",)),
    Case("constant_epoch_zero", "epoch", lambda: ConstantPr(0.5)(0), ("epoch=0", ">= 1")),
    Case("progressive_epochs_zero", "epochs", lambda: ProgressivePr(0), ("epochs=0",)),
    Case("progressive_epochs_float", "epochs", lambda: ProgressivePr(2.5), ("epochs=2.5",)),
    Case("progressive_epochs_string", "epochs", lambda: ProgressivePr("10"), ("'10'",)),
    Case(
        "progressive_value_count",
        "values",
        lambda: ProgressivePr(10, values=(0.1, 0.2)),
        ("2 values", "3 milestones"),
    ),
    Case(
        "progressive_value_range",
        "values[3]",
        lambda: ProgressivePr(10, values=(0.1, 0.2, 0.3, 1.5)),
        ("1.5", "[0, 1]"),
    ),
    Case(
        "progressive_value_nan",
        "values[0]",
        lambda: ProgressivePr(10, values=(NAN, 0.2, 0.3, 0.5)),
        ("nan",),
    ),
    Case(
        "progressive_milestones_order",
        "milestones[1]",
        lambda: ProgressivePr(10, milestones=(80, 30, 120)),
        ("30", "increasing"),
    ),
    Case(
        "progressive_reference", "reference_epochs", lambda: ProgressivePr(10, reference_epochs=0)
    ),
    Case("progressive_epoch_string", "epoch", lambda: ProgressivePr(10)("3"), ("'3'",)),
    Case(
        "build_unknown",
        "schedule",
        lambda: build_pr_schedule("linear", 0.5, 10),
        ("'linear'", "constant, progressive"),
    ),
    Case("build_p", "p", lambda: build_pr_schedule("constant", 1.5, 10), ("p=1.5",)),
    Case("build_epochs", "epochs", lambda: build_pr_schedule("progressive", 0.5, 0), ("=0",)),
    Case("build_p_nan", "p", lambda: build_pr_schedule("progressive", NAN, 10), ("p=nan",)),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_one_line_naming_the_argument(case: Case):
    with pytest.raises(PatchswapError) as info:
        case.call()
    message = str(info.value)
    assert "\n" not in message
    assert case.argument in message
    for word in case.words:
        assert word in message, f"{word!r} not in {message!r}"


def test_case_ids_are_unique():
    assert len({case.id for case in CASES}) == len(CASES)
