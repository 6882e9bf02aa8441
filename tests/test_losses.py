"""The self-distillation loss against a direct computation of Eq. 1-3."""

import pytest
import torch
import torch.nn.functional as F

from patchswap import SelfDistillationLoss, kl_divergence
from patchswap.errors import PatchswapError
from patchswap.losses import _check_logits, _check_target


def direct(fa, fb, y, t, gamma, alpha):
    """Eq. 1-3 written out element by element."""
    n = len(y)
    pa, pb = F.softmax(fa, 1), F.softmax(fb, 1)
    ce_a = -sum(torch.log(pa[i, y[i]]) for i in range(n)) / n
    ce_b = -sum(torch.log(pb[i, y[i]]) for i in range(n)) / n
    qa, qb = F.softmax(fa / t, 1), F.softmax(fb / t, 1)
    kl_ab = sum((qa[i] * torch.log(qa[i] / qb[i])).sum() for i in range(n)) * t * t / n
    kl_ba = sum((qb[i] * torch.log(qb[i] / qa[i])).sum() for i in range(n)) * t * t / n
    return gamma / 2 * (ce_a + ce_b) + alpha / 2 * (kl_ab + kl_ba)


@pytest.mark.parametrize("t, gamma, alpha", [(4.0, 1.0, 1.0), (2.0, 0.5, 0.5), (1.0, 1.0, 0.0)])
def test_value_and_gradient_match_direct_computation(t, gamma, alpha):
    torch.manual_seed(0)
    fa = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    fb = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 3, 5, 1, 3])
    ours = SelfDistillationLoss(t, gamma, alpha)(fa, fb, y)
    ref = direct(fa, fb, y, t, gamma, alpha)
    assert torch.allclose(ours.double(), ref, atol=1e-6)
    g_ours = torch.autograd.grad(ours, (fa, fb))
    g_ref = torch.autograd.grad(ref, (fa, fb))
    for a, b in zip(g_ours, g_ref):
        assert torch.allclose(a.double(), b, atol=1e-6)


def test_gradients_flow_through_both_sides():
    fa = torch.randn(3, 4, requires_grad=True)
    fb = torch.randn(3, 4, requires_grad=True)
    SelfDistillationLoss(alpha=1.0, gamma=0.0)(fa, fb, torch.tensor([0, 1, 2])).backward()
    assert fa.grad.abs().sum() > 0 and fb.grad.abs().sum() > 0


def test_components_sum_to_total_and_kl_symmetry():
    fa, fb = torch.randn(4, 5), torch.randn(4, 5)
    y = torch.tensor([0, 1, 2, 3])
    loss = SelfDistillationLoss()
    parts = loss.components(fa, fb, y)
    assert set(parts) == {"ce_a", "ce_b", "kl_ab", "kl_ba"}
    assert torch.allclose(sum(parts.values()), loss(fa, fb, y))
    swapped = loss.components(fb, fa, y)
    assert torch.allclose(parts["kl_ab"], swapped["kl_ba"])


def test_identical_predictions_have_zero_kl():
    f = torch.randn(4, 5)
    parts = SelfDistillationLoss().components(f, f.clone(), torch.tensor([0, 1, 2, 3]))
    assert parts["kl_ab"].abs() < 1e-6 and parts["kl_ba"].abs() < 1e-6


def test_half_precision_logits_computed_in_float32():
    fa, fb = torch.randn(4, 5).bfloat16(), torch.randn(4, 5).bfloat16()
    assert SelfDistillationLoss()(fa, fb, torch.tensor([0, 1, 2, 3])).dtype == torch.float32


def test_bad_temperature():
    with pytest.raises(PatchswapError, match="temperature=0"):
        SelfDistillationLoss(temperature=0)


def test_nan_hyper_parameters_are_rejected():
    for kwargs in ({"temperature": float("nan")}, {"gamma": float("nan")}, {"alpha": 1e400}):
        with pytest.raises(PatchswapError, match=next(iter(kwargs))):
            SelfDistillationLoss(**kwargs)


def test_empty_batch_is_an_error_not_nan():
    with pytest.raises(PatchswapError, match="empty batch"):
        SelfDistillationLoss()(torch.randn(0, 5), torch.randn(0, 5), torch.zeros(0).long())


def test_any_integer_target_dtype_is_accepted():
    fa, fb, y = torch.randn(4, 5), torch.randn(4, 5), torch.tensor([0, 1, 2, 4])
    loss = SelfDistillationLoss()
    assert torch.equal(loss(fa, fb, y.int()), loss(fa, fb, y))


def test_kl_divergence_accepts_mixed_float_dtypes():
    fa = torch.randn(3, 4)
    assert torch.allclose(kl_divergence(fa.bfloat16(), fa, 1.0), torch.zeros(()), atol=1e-2)


def test_label_range_is_not_read_off_the_cpu():
    """Off the CPU the label range is left to the device (no `.item()`, no host sync)."""
    fa, fb = torch.randn(4, 5, device="meta"), torch.randn(4, 5, device="meta")
    out = SelfDistillationLoss()(fa, fb, torch.tensor([0, 1, 2, 9], device="meta"))
    assert out.device.type == "meta"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_input_checks_do_not_sync_on_cuda():
    fa, fb = torch.randn(64, 10, device="cuda"), torch.randn(64, 10, device="cuda")
    y = torch.randint(0, 10, (64,), device="cuda", dtype=torch.int32)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        _check_logits("logits_a", fa, "logits_b", fb)
        _check_target(y, fa)
    finally:
        torch.cuda.set_sync_debug_mode("default")
