"""DDGSD (Xu & Liu 2019): data-distortion guided self-distillation.

Two independently augmented views of each image go through the network in one forward of
`2B`; each view's prediction is distilled from the other's (stop-gradient target), and the
mean of the penultimate embedding is matched between the views (the first moment of the
paper's MMD term). There is no official code: the formula follows the reimplementation in
winycg/Self-KD-Lib `methods/ddsgd.py`:

`ce_weight (CE_1 + CE_2) + KL_T(z_1, sg z_2) + KL_T(z_2, sg z_1)
+ 5e-4 (mean(f_1) - mean(f_2))^2`, `T` 4, with `KL_T` the `T^2`-scaled KD term.

`ce_weight` is 0.25 because that is what the only public code computes:
`criterion_cls(logit, cat([targets, targets])) / 2` is the cross-entropy averaged over the `2B`
logits, `(CE_1 + CE_2) / 2`, halved once more. `ce_weight: 0.5`, the plain mean over the two
views (this project's earlier default), stays available. Train accuracy uses the mean of the
two views' logits, as Self-KD-Lib does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..losses import distillation_kl
from .base import Batch, Method, MethodContext, StepOutput
from .features import FeatureTap


@dataclass
class DdgsdOptions:
    temperature: float = 4.0
    ce_weight: float = 0.25  # per view, as Self-KD-Lib's code; 0.5 is the mean over the views
    feature_weight: float = 5e-4  # weight of the embedding-mean discrepancy

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ConfigError(f"method.temperature={self.temperature} must be > 0 (DDGSD: 4)")
        if self.ce_weight < 0 or self.feature_weight < 0:
            raise ConfigError(
                f"method.ce_weight={self.ce_weight} and method.feature_weight="
                f"{self.feature_weight} must be >= 0 (DDGSD: 0.25 and 5e-4)"
            )


class Ddgsd(Method):
    """DDGSD: two augmented views distil each other (T 4) plus an embedding-mean match."""

    name = "ddgsd"
    views = 2
    Options = DdgsdOptions

    def __init__(self, model: nn.Module, options: DdgsdOptions, context: MethodContext):
        super().__init__(model, options, context)
        self.tap = FeatureTap(model, embedding=True, training_only=True)

    def forward(self, model: nn.Module, batch: Batch) -> StepOutput:
        o = self.options
        n = len(batch.images)
        logits = model(batch.images.transpose(0, 1).flatten(0, 1))  # view 0 of all, then view 1
        z1, z2 = logits[:n], logits[n:]
        ce = F.cross_entropy(z1.float(), batch.targets) + F.cross_entropy(z2.float(), batch.targets)
        embedding = self.tap.embedding.float()
        gap = embedding[:n].mean() - embedding[n:].mean()
        return StepOutput(
            {
                "ce": o.ce_weight * ce,
                "kd_12": distillation_kl(z1, z2, o.temperature),
                "kd_21": distillation_kl(z2, z1, o.temperature),
                "feature_mean": o.feature_weight * gap**2,
            },
            (z1 + z2).detach() / 2,
            batch.targets,
        )
