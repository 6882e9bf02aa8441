"""What the trainer logs per step under `log_analysis`: Figure 4's conv-gradient magnitudes and
Figure 5's pair statistics (averaged over the epoch's steps in `metrics.jsonl`).

Plots of them and the post-hoc analyses live in `patchswap.evaluation` (`analysis`, `plots`).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import PatchswapError

KD_GRADIENT_KEY = "kd_gradient_l1"
CONFIDENCE_GAP_KEY = "target_confidence_gap"


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """`(name, layer)` of every conv layer, in definition order; none is an error."""
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not layers:
        raise PatchswapError(f"{type(model).__name__} has no nn.Conv2d layer to analyse")
    return layers


def conv_gradient_magnitudes(model: nn.Module) -> dict[str, float]:
    """Mean |grad| of each conv layer's weight, in forward-definition order, read from `.grad`:
    call right after `loss.backward()` (layers without a gradient yet give 0)."""
    return {
        name: float(conv.weight.grad.abs().mean()) if conv.weight.grad is not None else 0.0
        for name, conv in conv_layers(model)
    }


@torch.no_grad()
def pair_statistics(
    logits_a: torch.Tensor,
    logits_b: torch.Tensor,
    targets: torch.Tensor,
    temperature: float = 1.0,
) -> dict[str, float]:
    """Figure 5 and section 3.4 on one pair batch (anchors a, partners b, same labels).

    `kd_gradient_l1`: mean over pairs of sum_k |p_k(x_b) - p_k(x_a)|, the L1 norm of
    d L_KD1 / d f. `target_confidence_gap`: mean over pairs of |p_y(x_a) - p_y(x_b)|.
    p = softmax(f / temperature); 1 gives the model's probabilities, the method's T the
    softened ones of Eq. 2.
    """
    p_a = (logits_a.float() / temperature).softmax(dim=1)
    p_b = (logits_b.float() / temperature).softmax(dim=1)
    target = targets.long()[:, None]
    return {
        KD_GRADIENT_KEY: float((p_b - p_a).abs().sum(dim=1).mean()),
        CONFIDENCE_GAP_KEY: float((p_a.gather(1, target) - p_b.gather(1, target)).abs().mean()),
    }
