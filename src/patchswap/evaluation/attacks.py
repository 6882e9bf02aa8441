"""White-box FGSM and I-FGSM (BIM) on [0, 1] pixel images (Goodfellow et al. 2015; Kurakin et
al. 2017), as used for Tables 10 and 12 of the paper.

Epsilon is in [0, 1] pixel units, as in torchattacks (which requires [0, 1] inputs); wrap the
model in `pixels.Normalized` so normalization happens inside it. Both attacks maximize the
cross-entropy of the true label:

    FGSM:   x' = clip_[0,1](x + eps * sign(grad_x CE(f(x), y)))
    I-FGSM: x_0 = x; x_{t+1} = clip_[max(0, x - eps), min(1, x + eps)](x_t + a * sign(grad))

The paper does not state its I-FGSM steps. We use 10 steps of a = eps / 10 (a parameter):
torchattacks' BIM rule, steps = int(min(eps * 255 + 4, 1.25 * eps * 255)), gives 0 steps for
eps 0.001 and 0.003, and 10 steps of eps / 10 keeps every eps on the same schedule, with the
last step able to reach the ball's border. Epsilon 0 returns the clean images.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import PatchswapError

DEFAULT_EPSILONS = (0.0, 0.001, 0.003, 0.005, 0.01, 0.05)
DEFAULT_IFGSM_STEPS = 10


def check_epsilons(epsilons: Sequence[float]) -> None:
    """Every epsilon must lie in [0, 1] pixel units."""
    for eps in epsilons:
        if not 0.0 <= eps <= 1.0:
            raise PatchswapError(
                f"epsilon {eps} is outside [0, 1]; epsilons are in [0, 1] pixel units, "
                "e.g. --eps 0 0.001 0.01"
            )


def _gradient_sign(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """sign of d CE / d input; only the input gets a gradient (no parameter .grad is touched)."""
    with torch.enable_grad():
        images = images.detach().requires_grad_(True)
        loss = F.cross_entropy(model(images).float(), labels, reduction="sum")
        (grad,) = torch.autograd.grad(loss, images)
    return grad.sign()


def fgsm(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float) -> torch.Tensor:
    """One signed-gradient step of size `eps`, clipped to [0, 1]. Call with the model in eval
    mode (batch norm then treats every image alone) and outside `torch.inference_mode`."""
    if eps == 0:
        return images.clone()
    return (images + eps * _gradient_sign(model, images, labels)).clamp(0.0, 1.0)


def ifgsm(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    steps: int = DEFAULT_IFGSM_STEPS,
) -> torch.Tensor:
    """`steps` FGSM steps of `eps / steps`, each clipped to the eps-ball around `images` and to
    [0, 1]. Same calling conditions as `fgsm`."""
    if steps < 1:
        raise PatchswapError(f"I-FGSM steps={steps} must be >= 1, e.g. 10")
    if eps == 0:
        return images.clone()
    lower = (images - eps).clamp(min=0.0)
    upper = (images + eps).clamp(max=1.0)
    adversarial = images.clone()
    for _ in range(steps):
        step = adversarial + (eps / steps) * _gradient_sign(model, adversarial, labels)
        adversarial = torch.minimum(torch.maximum(step, lower), upper)
    return adversarial


ATTACKS: dict[str, Callable[..., torch.Tensor]] = {"fgsm": fgsm, "ifgsm": ifgsm}
ATTACK_TITLES = {"fgsm": "FGSM", "ifgsm": "I-FGSM"}


def attack_accuracy(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    epsilons: Sequence[float] = DEFAULT_EPSILONS,
    steps: int = DEFAULT_IFGSM_STEPS,
) -> dict[str, dict[float, float]]:
    """Accuracy (fraction) of `model` (taking [0, 1] pixels) under each attack and epsilon.

    `batches` yields `(pixels, labels)` already on the model's device; every batch is attacked
    with all epsilons before the next, so the data is read once. The model runs in eval mode.
    """
    check_epsilons(epsilons)
    was_training = model.training
    model.eval()
    correct = {name: dict.fromkeys(epsilons, 0) for name in ATTACKS}
    seen = 0
    for images, labels in batches:
        for name, attack in ATTACKS.items():
            extra = {"steps": steps} if name == "ifgsm" else {}
            for eps in epsilons:
                adversarial = attack(model, images, labels, eps, **extra)
                with torch.no_grad():
                    hits = model(adversarial).argmax(dim=1) == labels
                correct[name][eps] += int(hits.sum())
        seen += len(labels)
    model.train(was_training)
    return {name: {eps: hits / seen for eps, hits in row.items()} for name, row in correct.items()}
