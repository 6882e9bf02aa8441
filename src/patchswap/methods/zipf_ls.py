"""Zipf's label smoothing (Liang et al. 2022), dense variant: self-generated rank priors.

As megvii-research/zipfls `pytorch_zipfls/losses.py` (`zipf_loss`, `gen_pdf`, `kl_loss`) and
`train.py` with `--dense --upsample bilinear`: the final classifier is applied at every
location of the last feature map (upsampled 2x bilinearly), each location votes for its
argmax class, classes are ranked by votes (ties share the smallest rank, as
`rankdata(method='min')`; classes without a vote share the rank after the last voted one),
and the non-target classes get the Zipf distribution `P ~ 1/rank`, normalized over the `K-1`
non-targets. Loss: `CE + lam KL(P || softmax(z without the target))`, no temperature,
`lam` 0.1 (CIFAR-100). The votes take no gradient.

The dense logits need the classifier to be applied directly to the global average of the last
feature map (`features.last_feature_map`; true for every registered model); this is checked
once at start-up with a probe forward, and other models are refused with a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, PatchswapError
from ..losses import kl_divergence
from .base import Batch, Method, MethodContext, StepOutput
from .features import FeatureTap, Stage, classifier_of, last_feature_map


@dataclass
class ZipfLsOptions:
    lam: float = 0.1  # weight of the Zipf term (0.1 for CIFAR-100)

    def __post_init__(self) -> None:
        if self.lam < 0:
            raise ConfigError(f"method.lam={self.lam} must be >= 0 (Zipf's LS: 0.1)")


def min_rank(scores: torch.Tensor) -> torch.Tensor:
    """Per row, `1 + the number of entries strictly larger`: descending ranks where ties share
    the smallest rank (scipy's `rankdata(-scores, method='min')`), computed in torch."""
    negated = -scores
    return torch.searchsorted(negated.sort(dim=1).values, negated, right=False) + 1


def zipf_prior(votes: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """`(B, K-1)` distribution over the non-target classes, proportional to `1 / rank(votes)`."""
    weights = _non_target(1.0 / min_rank(votes).to(torch.float32), targets)
    return weights / weights.sum(dim=1, keepdim=True)


def _non_target(values: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The `(B, K-1)` entries of `values` other than each row's target column."""
    keep = torch.ones_like(values, dtype=torch.bool).scatter_(1, targets[:, None], False)
    return values[keep].view(len(values), -1)


def dense_votes(feature_map: torch.Tensor, classifier: nn.Linear) -> torch.Tensor:
    """Per-class counts of the argmax of the classifier at every location of the 2x upsampled
    map: `(B, K)`."""
    upsampled = F.interpolate(feature_map, scale_factor=2.0, mode="bilinear", align_corners=False)
    locations = upsampled.flatten(2).transpose(1, 2)  # (B, H*W, C)
    winners = classifier(locations).argmax(dim=2)
    votes = torch.zeros(len(winners), classifier.out_features, device=winners.device)
    return votes.scatter_add_(1, winners, torch.ones_like(winners, dtype=votes.dtype))


class ZipfLs(Method):
    """Zipf's LS: CE + 0.1 KL to a 1/rank prior over non-targets from dense argmax votes."""

    name = "zipf_ls"
    Options = ZipfLsOptions

    def __init__(self, model: nn.Module, options: ZipfLsOptions, context: MethodContext):
        super().__init__(model, options, context)
        last = last_feature_map(model, context.in_channels, context.image_size)
        self.stage = last.name
        # A plain callable, not a submodule: the classifier stays the model's (not in this
        # method's parameters or state) and is reached directly, also when the trainer passes
        # the model wrapped for DDP or compiled.
        self.votes = partial(dense_votes, classifier=classifier_of(model)[1])
        self.tap = FeatureTap(model, [self.stage], embedding=True, training_only=True)
        self._check_pooling(model, last, context)

    @torch.no_grad()
    def _check_pooling(self, model: nn.Module, last: Stage, context: MethodContext) -> None:
        """Refuse models whose classifier input is not the global mean of the last feature map.

        A probe forward replaces that map by a fixed mixed-sign map (a fresh copy, so
        in-place ops downstream cannot edit the reference); its spatial mean must then be what
        reaches the classifier. A ReLU, max pool or layer in between changes it.
        """
        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        generator = torch.Generator().manual_seed(0)
        fake = torch.randn(2, last.channels, *last.size, generator=generator).to(device)
        hook = model.get_submodule(last.name).register_forward_hook(lambda *_: fake.clone())
        was_training = model.training
        model.eval()
        self.tap.training_only = False  # the probe runs in eval mode (no batch-norm updates)
        try:
            model(torch.zeros(2, context.in_channels, *context.image_size, device=device))
        finally:
            hook.remove()
            model.train(was_training)
            self.tap.training_only = True
        embedding, pooled = self.tap.embedding, fake.mean(dim=(2, 3))
        if embedding.shape != pooled.shape or not torch.allclose(
            embedding.float(), pooled, rtol=1e-4, atol=1e-5
        ):
            raise PatchswapError(
                f"zipf_ls needs a classifier applied directly to the global average pool of the "
                f"last feature map; {type(model).__name__} transforms its last feature map "
                f"({self.stage!r}) before the classifier; use a model that pools it straight "
                f"into the classifier (e.g. resnet18, vgg13, mobilenetv2)"
            )

    def forward(self, model: nn.Module, batch: Batch) -> StepOutput:
        logits = model(batch.images)
        with torch.no_grad():
            votes = self.votes(self.tap.outputs[self.stage])
            prior = zipf_prior(votes, batch.targets)
        kl = kl_divergence(prior.log(), _non_target(logits.float(), batch.targets), 1.0)
        return StepOutput(
            {
                "ce": F.cross_entropy(logits.float(), batch.targets),
                "zipf": self.options.lam * kl,
            },
            logits,
            batch.targets,
        )
