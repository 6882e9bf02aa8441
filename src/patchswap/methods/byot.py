"""BYOT, "Be Your Own Teacher" (Zhang et al. 2019): the deepest classifier teaches shallow ones.

The authors' ICCV code is not public; this follows the ICCV-style reimplementation
luanyunteng/pytorch-be-your-own-teacher (`models/resnet.py::branchBottleNeck`, `train.py`).
After every stage output but the last (`find_stages`: `layer1..` of a ResNet, `block1..` of a
VGG, never the stem), an auxiliary branch: 1x1 conv to `C/4` -> `k x k` conv with stride `k`
-> 1x1 conv to `C`, each with BN + ReLU, global average pooling and a linear classifier, where
`C` is the width of the model's classifier input (the final stage's width for ResNets) and `k`
the stage's size over the final stage's size (8/4/2 on a CIFAR ResNet18), so the branch sees
about the final resolution. The branch convs are initialized as the reimplementation's model
(`kaiming_normal_`, `fan_out`, ReLU gain; biases and BN left at PyTorch's defaults). Loss, with
the final logits `z`:

`(1 - alpha) sum_i CE(z_i, y) + alpha T^2 sum_{i shallow} KL(softmax(z/T) || softmax(z_i/T))
+ beta sum_{i shallow} sum_{b, c} (f_i - f)^2 [f_i > 0 or f > 0]`

with the final classifier in the CE sum, `z` and the final embedding `f` detached as targets,
`f_i` the branch's pooled feature; alpha 0.1, T 3, beta 1e-6 (`train.py` defaults). (The
reimplementation's soft term is a cross-entropy against `softmax(z/T)`; KL differs from it by
the target's entropy, a constant, so the gradients are the same.)

The branches are this method's submodules: they train with the model (the trainer adds the
method's parameters to the optimizer) and are saved with the method's state, but they are not
part of the model, so the exported network is the plain backbone. Stage outputs come from
forward hooks (`FeatureTap`); the model is not modified.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, PatchswapError
from ..losses import distillation_kl
from .base import Batch, Method, MethodContext, StepOutput
from .features import FeatureTap, Stage, classifier_of, find_stages


@dataclass
class ByotOptions:
    temperature: float = 3.0
    alpha: float = 0.1  # weight of the distillation terms; cross-entropy gets 1 - alpha
    beta: float = 1e-6  # weight of the feature hints

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ConfigError(f"method.temperature={self.temperature} must be > 0 (BYOT: 3)")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"method.alpha={self.alpha} must be in [0, 1] (BYOT: 0.1)")
        if self.beta < 0:
            raise ConfigError(f"method.beta={self.beta} must be >= 0 (BYOT: 1e-6)")


def _conv_bn_relu(c_in: int, c_out: int, kernel: tuple[int, int]) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, kernel_size=kernel, stride=kernel),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    ]


class Branch(nn.Module):
    """An auxiliary classifier on one stage: bottleneck convs, pooling, linear."""

    def __init__(self, stage: Stage, final: Stage, width: int, num_classes: int) -> None:
        super().__init__()
        kernel = (
            max(1, stage.size[0] // final.size[0]),
            max(1, stage.size[1] // final.size[1]),
        )
        middle = max(1, width // 4)
        self.body = nn.Sequential(
            *_conv_bn_relu(stage.channels, middle, (1, 1)),
            *_conv_bn_relu(middle, middle, kernel),
            *_conv_bn_relu(middle, width, (1, 1)),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.fc = nn.Linear(width, num_classes)
        for module in self.body.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(pooled features, logits)`."""
        features = self.body(x)
        return features, self.fc(features)


def hint_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Summed squared error where either side is active, as the reimplementation's
    `feature_loss_function` (a no-op mask for ReLU features, kept for other models)."""
    target = target.detach()
    active = (features > 0) | (target > 0)
    return ((features - target) ** 2 * active).sum()


class Byot(Method):
    """BYOT: auxiliary classifiers after each stage, taught by the final one (T 3, alpha 0.1)."""

    name = "byot"
    Options = ByotOptions

    def __init__(self, model: nn.Module, options: ByotOptions, context: MethodContext):
        super().__init__(model, options, context)
        stages = find_stages(model, context.in_channels, context.image_size)
        if len(stages) < 2:
            raise PatchswapError(
                f"byot needs a model with at least two stages of different resolution; "
                f"{type(model).__name__} has {len(stages)}"
            )
        width = classifier_of(model)[1].in_features
        self.stage_names = [stage.name for stage in stages[:-1]]
        self.branches = nn.ModuleList(
            Branch(stage, stages[-1], width, context.num_classes) for stage in stages[:-1]
        )
        self.tap = FeatureTap(model, self.stage_names, embedding=True, training_only=True)

    def forward(self, model: nn.Module, batch: Batch) -> StepOutput:
        o = self.options
        logits = model(batch.images)
        final_features = self.tap.embedding.float()
        ce = F.cross_entropy(logits.float(), batch.targets)
        kd = hints = logits.new_zeros((), dtype=torch.float32)
        for branch, stage_output in zip(self.branches, self.tap.features(self.stage_names)):
            features, branch_logits = branch(stage_output)
            ce = ce + F.cross_entropy(branch_logits.float(), batch.targets)
            kd = kd + distillation_kl(branch_logits, logits, o.temperature)
            hints = hints + hint_loss(features.float(), final_features)
        return StepOutput(
            {"ce": (1.0 - o.alpha) * ce, "kd": o.alpha * kd, "hint": o.beta * hints},
            logits,
            batch.targets,
        )
