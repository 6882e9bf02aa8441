"""The self-distillation loss of the paper (Eq. 1-3) and the KD helpers methods share."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .errors import PatchswapError
from .infra import argument_checks as check


def _check_logits(name_a: str, a: object, name_b: str, b: object) -> None:
    """Two float `(N, C)` logit tensors of one shape on one device, `N, C >= 1` (metadata)."""
    for name, x in ((name_a, a), (name_b, b)):
        check.tensor(name, x, 2, "(N, C)")
        if not x.is_floating_point():
            raise PatchswapError(f"{name} has dtype {x.dtype}; pass float logits of shape (N, C)")
    check.same(name_a, a, name_b, b, "shape", "device")
    n, c = a.shape
    if n == 0:
        raise PatchswapError(
            f"{name_a} has shape {tuple(a.shape)}: an empty batch (N=0); pass at least one sample"
        )
    if c == 0:
        raise PatchswapError(f"{name_a} has shape {tuple(a.shape)}: no classes (C=0); need C >= 1")


def _check_target(target: object, logits: torch.Tensor) -> torch.Tensor:
    """`target` as int64 class ids `(N,)` on the logits' device.

    The label range `[0, C)` is checked only for CPU tensors: on an accelerator it would need
    a host sync every step, so there the loss's own device-side check reports it.
    """
    check.tensor("target", target, 1, "(N,)")
    n, c = logits.shape
    if not check.is_integer_dtype(target.dtype):
        raise PatchswapError(
            f"target has dtype {target.dtype}; pass integer class ids of shape (N,) in [0, {c})"
        )
    if len(target) != n:
        raise PatchswapError(
            f"target has shape {tuple(target.shape)} but logits_a has N={n} rows; "
            f"pass one class id per row"
        )
    check.same("logits_a", logits, "target", target, "device")
    if target.device.type == "cpu":
        low, high = (int(v) for v in torch.aminmax(target))
        if low < 0 or high >= c:
            bad = low if low < 0 else high
            raise PatchswapError(
                f"target holds class {bad}; class ids must be in [0, {c}) for C={c} logits"
            )
    return target.long()


def _temperature(value: object) -> float:
    return check.real("temperature", value, 0.0, low_open=True, hint=" (the paper uses 4)")


def _kl(
    p_logits: torch.Tensor,
    q_logits: torch.Tensor,
    temperature: float,
    paired: torch.Tensor | None = None,
) -> torch.Tensor:
    """KL summed over classes, mean over the batch; `paired` zeroes the other samples' terms
    (still divided by the whole batch, so an unpaired sample adds exactly nothing)."""
    log_p = F.log_softmax(p_logits.float() / temperature, dim=1)
    log_q = F.log_softmax(q_logits.float() / temperature, dim=1)
    if paired is None:
        return F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)
    per_sample = F.kl_div(log_q, log_p, reduction="none", log_target=True).sum(1)
    return torch.where(paired, per_sample, 0.0).sum() / len(per_sample)


def kl_divergence(
    p_logits: torch.Tensor, q_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """`KL(p || q)` of temperature-softened softmaxes, summed over classes, mean over the batch.

    Both sides keep their gradients; detach an argument to make it a fixed target.
    Computed in float32 whatever the logits' dtype (autocast-safe). The logits must be float
    `(N, C)` tensors of one shape on one device with `N >= 1`; `temperature` finite and > 0.
    """
    _check_logits("p_logits", p_logits, "q_logits", q_logits)
    return _kl(p_logits, q_logits, _temperature(temperature))


def distillation_kl(
    student: torch.Tensor, teacher: torch.Tensor, temperature: float
) -> torch.Tensor:
    """`T^2 KL(softmax(teacher/T) || softmax(student/T))`, batch mean, `teacher` stop-gradient.

    Hinton's KD term (`KL_T` in `reference/baselines.md`), the one the self-distillation
    baselines share (CS-KD, DDGSD, DLB, BYOT): each matches a prediction to a *fixed* target
    prediction of the same network (the partner, the other view, the previous batch, the
    deepest classifier), so the target is detached here once. `T^2` keeps the gradient scale
    independent of the temperature.
    """
    return temperature**2 * kl_divergence(teacher.detach(), student, temperature)


class SelfDistillationLoss(nn.Module):
    """`L = gamma/2 (CE_a + CE_b) + alpha/2 T^2 (KL(p_a||p_b) + KL(p_b||p_a))` (paper Eq. 3).

    `p = softmax(f / T)`. Gradients flow through both predictions: neither side is a detached
    teacher (the difference from CS-KD). CE is averaged over the batch and KL summed over
    classes, averaged over the batch, as in Eq. 1-2 with the `1/n` of Eq. 2.
    `forward` returns the scalar total; `components` returns the four weighted terms (their
    sum is the total) for logging.

    Inputs are checked on every call from metadata only: `logits_a`, `logits_b` float `(N, C)`
    of one shape and device, `N >= 1`; `target` integer `(N,)` on the same device. The label
    range `[0, C)` is checked only when `target` is on the CPU (free there); on an accelerator
    that check would force a host sync per step, so it is left to `cross_entropy`'s own
    device-side assert.
    """

    def __init__(self, temperature: float = 4.0, gamma: float = 1.0, alpha: float = 1.0) -> None:
        super().__init__()
        self.temperature = _temperature(temperature)
        self.gamma = check.real("gamma", gamma, 0.0, hint=" (CE weight, the paper uses 1)")
        self.alpha = check.real("alpha", alpha, 0.0, hint=" (KL weight, the paper uses 1)")

    def components(
        self,
        logits_a: torch.Tensor,
        logits_b: torch.Tensor,
        target: torch.Tensor,
        paired: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Weighted loss terms `ce_a, ce_b, kl_ab, kl_ba`; they sum to the total loss.

        `paired` (bool `(N,)`, optional) marks the rows that have a real partner; the others
        (a class alone in its batch, `in_batch_partners`) add nothing to the KL terms.
        """
        _check_logits("logits_a", logits_a, "logits_b", logits_b)
        target = _check_target(target, logits_a)
        if paired is not None:
            check.tensor("paired", paired, 1, "(N,)")
            if paired.dtype != torch.bool or len(paired) != len(target):
                raise PatchswapError(
                    f"paired has dtype {paired.dtype} and shape {tuple(paired.shape)}; pass a "
                    f"bool mask of shape ({len(target)},)"
                )
        t = self.temperature
        kd_weight = self.alpha / 2 * t * t
        return {
            "ce_a": self.gamma / 2 * F.cross_entropy(logits_a.float(), target),
            "ce_b": self.gamma / 2 * F.cross_entropy(logits_b.float(), target),
            "kl_ab": kd_weight * _kl(logits_a, logits_b, t, paired),
            "kl_ba": kd_weight * _kl(logits_b, logits_a, t, paired),
        }

    def forward(
        self, logits_a: torch.Tensor, logits_b: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        return sum(self.components(logits_a, logits_b, target).values())
