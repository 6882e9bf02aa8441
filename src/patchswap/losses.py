"""The self-distillation loss of the paper (Eq. 1-3) and the KD helpers methods share."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .errors import PatchswapError


def kl_divergence(
    p_logits: torch.Tensor, q_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """`KL(p || q)` of temperature-softened softmaxes, summed over classes, mean over the batch.

    Both sides keep their gradients; detach an argument to make it a fixed target.
    Computed in float32 whatever the logits' dtype (autocast-safe).
    """
    log_p = F.log_softmax(p_logits.float() / temperature, dim=1)
    log_q = F.log_softmax(q_logits.float() / temperature, dim=1)
    return F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)


class SelfDistillationLoss(nn.Module):
    """`L = gamma/2 (CE_a + CE_b) + alpha/2 T^2 (KL(p_a||p_b) + KL(p_b||p_a))` (paper Eq. 3).

    `p = softmax(f / T)`. Gradients flow through both predictions: neither side is a detached
    teacher (the difference from CS-KD). CE is averaged over the batch and KL summed over
    classes, averaged over the batch, as in Eq. 1-2 with the `1/n` of Eq. 2.
    `forward` returns the scalar total; `components` returns the four weighted terms (their
    sum is the total) for logging.
    """

    def __init__(self, temperature: float = 4.0, gamma: float = 1.0, alpha: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise PatchswapError(f"temperature={temperature} must be > 0 (the paper uses 4)")
        if gamma < 0 or alpha < 0:
            raise PatchswapError(f"gamma={gamma} and alpha={alpha} must be >= 0")
        self.temperature = temperature
        self.gamma = gamma
        self.alpha = alpha

    def components(
        self, logits_a: torch.Tensor, logits_b: torch.Tensor, target: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Weighted loss terms `ce_a, ce_b, kl_ab, kl_ba`; they sum to the total loss."""
        t = self.temperature
        kd_weight = self.alpha / 2 * t * t
        return {
            "ce_a": self.gamma / 2 * F.cross_entropy(logits_a.float(), target),
            "ce_b": self.gamma / 2 * F.cross_entropy(logits_b.float(), target),
            "kl_ab": kd_weight * kl_divergence(logits_a, logits_b, t),
            "kl_ba": kd_weight * kl_divergence(logits_b, logits_a, t),
        }

    def forward(
        self, logits_a: torch.Tensor, logits_b: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        return sum(self.components(logits_a, logits_b, target).values())
