"""FGSM / I-FGSM on a fixed linear model: budgets, clipping and the effect on the loss."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from patchswap.errors import PatchswapError
from patchswap.evaluation.attacks import attack_accuracy, fgsm, ifgsm
from patchswap.evaluation.pixels import Normalized


def linear_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 3)).eval()


def interior_images(n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixels in [0.3, 0.7], so budgets up to 0.3 never reach the [0, 1] clip."""
    generator = torch.Generator().manual_seed(1)
    images = 0.3 + 0.4 * torch.rand(n, 1, 2, 6, generator=generator)
    return images, torch.arange(n) % 3


def per_sample_loss(model, images, labels):
    with torch.no_grad():
        return F.cross_entropy(model(images), labels, reduction="none")


def test_fgsm_at_eps_zero_keeps_the_clean_accuracy():
    model = linear_model()
    images, labels = interior_images()
    clean = float((model(images).argmax(1) == labels).float().mean())
    result = attack_accuracy(model, [(images[:7], labels[:7]), (images[7:], labels[7:])], [0.0])
    assert result["fgsm"][0.0] == clean and result["ifgsm"][0.0] == clean
    assert torch.equal(fgsm(model, images, labels, 0.0), images)


def test_a_larger_fgsm_eps_never_lowers_the_loss():
    model = linear_model()
    images, labels = interior_images()
    losses = [
        per_sample_loss(model, fgsm(model, images, labels, eps), labels)
        for eps in (0.0, 0.001, 0.01, 0.05, 0.1, 0.3)
    ]
    for smaller, larger in zip(losses, losses[1:]):
        assert (larger >= smaller - 1e-6).all()
    assert (losses[-1] > losses[0]).all()
    result = attack_accuracy(model, [interior_images()], [0.0, 0.3])
    assert result["fgsm"][0.3] < result["fgsm"][0.0]


def test_attacks_stay_in_the_eps_ball_and_in_pixel_range():
    model = linear_model()
    generator = torch.Generator().manual_seed(2)
    images = torch.rand(16, 1, 2, 6, generator=generator)  # pixels near 0 and 1 get clipped
    labels = torch.arange(16) % 3
    eps = 0.2
    for adversarial in (fgsm(model, images, labels, eps), ifgsm(model, images, labels, eps, 4)):
        assert adversarial.min() >= 0 and adversarial.max() <= 1
        assert (adversarial - images).abs().max() <= eps + 1e-6
    stepped = ifgsm(model, images, labels, eps, steps=4)
    assert (per_sample_loss(model, stepped, labels) >= per_sample_loss(model, images, labels)).all()
    with pytest.raises(PatchswapError, match="steps=0 must be >= 1"):
        ifgsm(model, images, labels, eps, steps=0)


def test_attacks_run_in_eval_mode_and_leave_parameters_alone():
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(48, 3)
    )
    model.train()
    images, labels = interior_images(8)
    attack_accuracy(model, [(images, labels)], [0.0, 0.01], steps=2)
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    assert model[1].num_batches_tracked == 0  # batch norm never saw a training-mode batch


def test_normalized_wrapper_round_trips_pixels():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4, 2))
    wrapper = Normalized(model, (0.5, 0.4, 0.3), (0.2, 0.25, 0.3))
    normalized = torch.randn(5, 3, 2, 2) * 0.1
    assert torch.allclose(wrapper(wrapper.to_pixels(normalized)), model(normalized), atol=1e-5)


def test_epsilon_outside_pixel_range_is_a_clear_error():
    with pytest.raises(PatchswapError, match=r"epsilon 8 is outside \[0, 1\]"):
        attack_accuracy(linear_model(), [interior_images()], [8])


def test_ifgsm_with_one_step_is_fgsm():
    model, (images, labels) = linear_model(), interior_images()
    for eps in (0.01, 0.2):
        assert torch.equal(
            ifgsm(model, images, labels, eps, steps=1), fgsm(model, images, labels, eps)
        )


def reference_bim(model, images, labels, eps, steps):
    """torchattacks' BIM loop, written out: steps of eps/steps, projected on the eps-ball."""
    adversarial = images.clone()
    for _ in range(steps):
        adversarial.requires_grad_(True)
        loss = F.cross_entropy(model(adversarial), labels)
        (grad,) = torch.autograd.grad(loss, adversarial)
        adversarial = adversarial.detach() + eps / steps * grad.sign()
        adversarial = torch.min(torch.max(adversarial, images - eps), images + eps).clamp(0, 1)
    return adversarial


def test_ifgsm_takes_steps_of_eps_over_steps_on_a_nonlinear_model():
    class Wavy(nn.Module):
        """Input gradients that change sign within the eps-ball, so the step size matters."""

        def __init__(self):
            super().__init__()
            torch.manual_seed(2)
            self.inner, self.outer = nn.Linear(12, 16), nn.Linear(16, 3)

        def forward(self, x):
            return self.outer(torch.sin(8 * self.inner(x.flatten(1))))

    model = Wavy().eval()
    images, labels = interior_images(64)
    eps = 0.3
    attacked = ifgsm(model, images, labels, eps, steps=5)
    assert torch.allclose(attacked, reference_bim(model, images, labels, eps, 5), atol=1e-6)
    assert not torch.allclose(attacked, fgsm(model, images, labels, eps))  # the test has teeth
