"""Intra-class patch swap self-distillation (Choi et al. 2025), the method of this project.

Each step takes anchors and their same-class partners, swaps random grid cells between each
pair with probability `p_r` (`patchswap.swap`), forwards both halves (two passes, as
Algorithm 1) and applies the symmetric self-distillation loss (`PatchSwapObjective`).

Ablations from the paper, by options: `p: 0` is intra-class self-distillation without swap;
`alpha: 0` is "Hard Label + Swap" (cross-entropy on the swapped pair only); `grid: 2` is the
2x2 variant; `schedule: progressive` is Table 15's increasing `p_r` (`adaptive` raises it with
the training accuracy instead, `schedules.AdaptivePr`); `one_cell: true` swaps a
single cell per pair as the paper's printed listing does.

Table 13 (the method with CutMix, Cutout or MixUp): `mix: cutmix|cutout|mixup`, with the
augmentation's own options under `mix_options` (`patchswap.augment`; official defaults). The
order is **mix, then swap**: the paper's "No swap" (`p_r = 0`) feeds "mixing-augmented inputs"
to the pair framework, so the mixed images are the inputs whose patches get swapped, and
DESIGN.md puts every augmentation before the swap. CutMix/MixUp mix both halves of the pair
batch with one draw (the same partner permutation within each half, the same `lam` and box),
so anchor `i` and partner `i` keep identical `(targets_a, targets_b, lam)`; because the box is
at the same place in both images, the swap moves pixels of the same source class and the
targets stay exact. Cutout draws a hole per image, independently in each half, as a
per-sample transform would. The CE terms become `lam CE(y_a) + (1-lam) CE(y_b)`; the KL
terms between the halves are unchanged. `mix: none` (the default) is the plain method.

Forward (`forward: separate`, the default except with matched pairs): the swapped anchors and
the swapped partners go through the network in **two passes**, as Algorithm 1 computes
`f(x_a_hat)` and `f(x_b_hat)` (lines 3-4); in train mode batch norm normalizes each half with
its own batch statistics. CS-KD (alinlab/cs-kd `train.py`: anchors, then partners under
`no_grad`) and DLB (`dlb.py`: this batch, then the previous one) forward their halves
separately too.
`forward: joint` sends the pair batch through one pass, batch statistics over the whole pair
batch (this project's behaviour before 0.2; the study measures both); it is the default with
`pairs: matched`, where it makes a step cost what a hard-label step costs.

Pairs (`pairs: dataset`, the default): each anchor's partner is drawn from the whole training
set by `IntraClassPairSampler`, as the paper; a step forwards `2 x batch_size` images.
`pairs: batch` takes ordinary shuffled batches and pairs each sample with another of its class
in the same batch (`in_batch_partners`, the same code as `PatchSwapObjective` for pipelines
that own their loader); a sample whose class is alone in the batch trains on cross-entropy
only. `pairs: matched` costs what hard label costs: each epoch every class is split into
random disjoint pairs (`MatchedPairSampler`), a step of `batch_size` images holds
`batch_size / 2` pairs, both members swapped and both with cross-entropy, the symmetric KL
between them; every training image is forwarded once per epoch (the odd one out of a class
with an odd count is paired with a random classmate, forwarded a second time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..augment import AUGMENTATIONS, BatchAugment, Mixed, mixed_cross_entropy
from ..errors import ConfigError
from ..infra.typed_mappings import build_dataclass
from ..objective import FORWARDS, PatchSwapObjective
from ..pairs import in_batch_partners
from ..schedules import AdaptivePr, build_pr_schedule
from ..swap import validate_swap_args
from .base import Batch, Method, MethodContext, PairLogits, StepOutput

PAIRS = ("dataset", "batch", "matched")


@dataclass
class PatchSwapOptions:
    grid: int = 4  # cells per side: 4 is the paper's "4x4"
    p: float = 0.5  # p_r of a constant schedule
    # constant | progressive (Table 15: 0.1 -> 0.2 -> 0.3 -> 0.5) | adaptive (p_min up to p with
    # the previous epoch's training accuracy, schedules.AdaptivePr)
    schedule: str = "constant"
    p_min: float = 0.1  # adaptive only: p_r of the first epoch and of a model that gets nothing
    one_cell: bool = False  # the paper listing's one-cell variant (ablation)
    temperature: float = 4.0
    gamma: float = 1.0  # cross-entropy weight
    alpha: float = 1.0  # KL weight
    mix: str = "none"  # none | cutout | cutmix | mixup, applied before the swap (Table 13)
    mix_options: dict[str, Any] = field(default_factory=dict)  # e.g. {prob: 0.5, beta: 1.0}
    # separate (Algorithm 1: two passes) | joint (one pass of the pair batch); unset: separate,
    # except joint with matched pairs, which then cost what hard label costs per epoch
    # (benchmarks/matched_cost.py) with the same accuracy as separate (plan ablations)
    forward: str | None = None
    # dataset: the partner comes from the whole training set (the paper; pair batches from
    # IntraClassPairSampler); batch: from the same ordinary shuffled batch (in_batch_partners);
    # matched: every class split into disjoint pairs each epoch, each image forwarded once
    # (MatchedPairSampler): the steps and images of hard label at the same batch_size
    pairs: str = "dataset"

    def __post_init__(self) -> None:
        if self.forward is None:
            self.forward = "joint" if self.pairs == "matched" else "separate"
        for key, valid in (("forward", FORWARDS), ("pairs", PAIRS)):
            if getattr(self, key) not in valid:
                raise ConfigError(
                    f"method.{key}={getattr(self, key)!r} is unknown; valid: {', '.join(valid)}"
                )
        try:  # the objective and schedule check their own arguments, before data is loaded
            self.objective()
            build_pr_schedule(self.schedule, self.p, 1, self.p_min)
        except ValueError as err:
            raise ConfigError(f"method: {err}") from None

    def objective(self) -> PatchSwapObjective:
        return PatchSwapObjective(
            self.grid,
            self.p,
            self.temperature,
            self.gamma,
            self.alpha,
            forward=self.forward,
            one_cell=self.one_cell,
        )


class PatchSwap(Method):
    """Cross-entropy on both swapped images plus symmetric temperature-scaled KL between them."""

    name = "patchswap"
    paired = True
    Options = PatchSwapOptions

    def __init__(self, model: nn.Module, options: PatchSwapOptions, context: MethodContext):
        super().__init__(model, options, context)
        # pair batches from a sampler (whole-set partners or disjoint pairs), or ordinary ones
        self.paired = options.pairs in ("dataset", "matched")
        self.matched = options.pairs == "matched"
        height, width = context.image_size
        try:
            validate_swap_args(height, width, options.grid, options.p)
            self.schedule = build_pr_schedule(
                options.schedule, options.p, context.epochs, options.p_min
            )
        except ValueError as err:
            raise ConfigError(f"method: {err}") from None
        self.adaptive = isinstance(self.schedule, AdaptivePr)
        if self.adaptive:  # correct and seen swapped samples of the epoch, summed on the device
            self.register_buffer("epoch_hits", torch.zeros(2, dtype=torch.float64))
        self.objective = options.objective()
        self.objective.p = self.schedule(1)
        self.mix = build_mix(options.mix, options.mix_options)

    def on_epoch_start(self, epoch: int) -> dict[str, float]:
        if not self.adaptive:
            self.objective.p = self.schedule(epoch)
            return {"p_r": self.objective.p}
        hits = self.epoch_hits.clone()  # the previous epoch's, restored with it on resume
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(hits)  # every process gets the same p_r
        correct, seen = hits.tolist()  # one host sync per epoch
        accuracy = correct / seen if seen else None
        self.epoch_hits.zero_()
        self.objective.p = self.schedule(epoch, accuracy)
        return {"p_r": self.objective.p, "p_r_accuracy": accuracy or 0.0}

    def forward(self, model: nn.Module, batch: Batch) -> StepOutput:
        images, targets, paired = batch.images, batch.targets, None
        if not self.paired:  # an ordinary batch: partners from inside it
            partners, alone = in_batch_partners(targets)
            images, targets = torch.cat([images, images[partners]]), targets.repeat(2)
            paired = ~alone
        half = len(images) // 2
        if self.mix is None:
            mixed = Mixed(images, targets, targets, 1.0)
        else:
            mixed = self.mix(images, targets, groups=2)
        ya, yb = mixed.targets_a[:half], mixed.targets_b[:half]
        losses, logits = self.objective.pair_terms(
            model, mixed.images[:half], mixed.images[half:], ya, paired
        )
        if self.adaptive:
            hits = (logits.detach().argmax(1) == targets).sum()
            self.epoch_hits += torch.stack([hits.to(torch.float64), hits.new_tensor(len(logits))])
        if mixed.lam < 1.0:  # two-label CE (Table 13); the KL terms do not involve labels
            weight = self.objective.loss.gamma / 2
            losses["ce_a"] = weight * mixed_cross_entropy(logits[:half], ya, yb, mixed.lam)
            losses["ce_b"] = weight * mixed_cross_entropy(logits[half:], ya, yb, mixed.lam)
        # Figure 5's pair statistics for whole-set pairs; in-batch pairs hold lone samples
        pairs = PairLogits(logits[:half], logits[half:], targets[:half]) if self.paired else None
        return StepOutput(losses, logits, targets, samples=half, pairs=pairs)


def build_mix(name: str, options: dict[str, Any]) -> BatchAugment | None:
    """The batch augmentation named by `method.mix`, built from `method.mix_options`."""
    if name == "none":
        if options:
            raise ConfigError(
                f"method.mix_options={options} needs method.mix; set it to cutout, cutmix or mixup"
            )
        return None
    if name not in AUGMENTATIONS:
        valid = ", ".join(["none", *AUGMENTATIONS])
        raise ConfigError(f"method.mix={name!r} is unknown; valid: {valid}")
    return build_dataclass(AUGMENTATIONS[name], options, "method.mix_options.", f"mix {name!r}")
