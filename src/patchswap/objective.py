"""The method as one call on an ordinary batch, for pipelines that own their data loading.

An `IterableDataset`, a streaming dataset or a framework's loader yields shuffled `(x, y)`
batches and cannot take `IntraClassPairSampler`; `PatchSwapObjective` finds each sample's
partner in the batch (`in_batch_partners`), swaps, forwards and returns the loss::

    objective = PatchSwapObjective(grid=4, p=0.5)
    for x, y in DataLoader(train_set, batch_size=128, shuffle=True):
        loss = objective(model, x, y)
        optimizer.zero_grad(); loss.backward(); optimizer.step()

The trainer's `patchswap` method computes its loss with the same `pair_terms`, from the
sampler's pairs (`method.pairs: dataset`, the paper) or from in-batch partners (`batch`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .errors import PatchswapError
from .infra import argument_checks as check
from .losses import SelfDistillationLoss
from .pairs import in_batch_partners, matched_pairs
from .swap import patch_swap

FORWARDS = ("separate", "joint")
PAIRINGS = ("batch", "matched")


class PatchSwapObjective(nn.Module):
    """Intra-class patch swap loss of a batch: `loss = objective(model, x, y)`.

    Args:
        grid: the swap's cells per side (`patch_swap`).
        p: the swap probability `p_r` (`patch_swap`); may be changed between calls (e.g. from
            a schedule: `objective.p = schedule(epoch)`).
        temperature: the loss's softmax temperature (`SelfDistillationLoss`, paper Eq. 3).
        gamma: the weight of the cross-entropy terms (`SelfDistillationLoss`).
        alpha: the weight of the symmetric KL term (`SelfDistillationLoss`).
        forward: `separate` forwards the swapped anchors and partners in two passes, as
            Algorithm 1 (batch norm statistics per half); `joint` in one pass of `2N` images.
            Unset: `separate`, except `joint` with `pairing="matched"` (where a batch may hold
            a single pair, and a pass of one image cannot train batch norm).
        one_cell: swap exactly one cell per swapped pair, as the paper's listing (`patch_swap`).
        pairing: `batch` gives every sample a partner from the batch (`in_batch_partners`) and
            forwards `2N` images; `matched` splits the batch into disjoint same-class pairs
            (`matched_pairs`) and forwards its own `N` images, at the cost of hard label.

    With `batch`, samples whose class is alone in the batch are paired with themselves and
    train on cross-entropy only; with many classes and small batches that is most of them (see
    `in_batch_partners`). With `matched`, the odd one out of each class trains on cross-entropy
    only; the pairs' terms are weighted by the share of the batch in pairs and the lone
    samples' cross-entropy by theirs, so the cross-entropy is the batch mean over all `N`.
    """

    def __init__(
        self,
        grid: int = 4,
        p: float = 0.5,
        temperature: float = 4.0,
        gamma: float = 1.0,
        alpha: float = 1.0,
        *,
        forward: str | None = None,
        one_cell: bool = False,
        pairing: str = "batch",
    ) -> None:
        super().__init__()
        if pairing not in PAIRINGS:
            raise PatchswapError(f"pairing={pairing!r} is unknown; valid: {', '.join(PAIRINGS)}")
        self.pairing = pairing
        if forward is None:
            forward = "joint" if pairing == "matched" else "separate"
        if forward not in FORWARDS:
            raise PatchswapError(f"forward={forward!r} is unknown; valid: {', '.join(FORWARDS)}")
        self.grid = check.integer("grid", grid, 1, " (cells per side; the paper uses 4)")
        self.p = check.probability("p", p)
        self.one_cell = check.flag("one_cell", one_cell)
        self.mode = forward
        self.loss = SelfDistillationLoss(temperature, gamma, alpha)

    def pair_terms(
        self,
        model: nn.Module,
        xa: torch.Tensor,
        xb: torch.Tensor,
        target: torch.Tensor,
        paired: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Swap the pairs `(xa[i], xb[i])`, forward them and return the weighted loss terms and
        the `(2N, C)` logits (swapped anchors first)."""
        xa, xb = patch_swap(xa, xb, self.grid, self.p, generator, one_cell=self.one_cell)
        if self.mode == "separate":
            logits = torch.cat([model(xa), model(xb)])
        else:
            logits = model(torch.cat([xa, xb]))
        half = len(xa)
        self._observe(logits, target.repeat(2))
        return self.loss.components(logits[:half], logits[half:], target, paired), logits

    def _observe(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        """Sees the swapped images' logits and labels of every step (a subclass may count
        hits, as `integrations.ScheduledObjective` does for `AdaptivePr`); nothing here."""

    def forward(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        return_parts: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss of the batch `(x, y)` (and its terms when `return_parts`)."""
        if self.pairing == "matched":
            parts = self._matched_terms(model, x, y, generator)
        else:
            partners, alone = in_batch_partners(y, generator)
            parts, _ = self.pair_terms(model, x, x[partners], y, ~alone, generator)
        loss = sum(parts.values())
        return (loss, parts) if return_parts else loss

    def _matched_terms(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        generator: torch.Generator | None,
    ) -> dict[str, torch.Tensor]:
        """Disjoint pairs of the batch, each image forwarded once: the lone samples ride in the
        anchors' pass (so no pass is a batch of one for batch norm) and train on CE only."""
        anchors, partners, alone = matched_pairs(y, generator)
        n, pairs = len(y), len(anchors)
        if pairs == 0:  # no class has two members here: plain cross-entropy
            logits = model(x)
            return {"ce_alone": self.loss.gamma * F.cross_entropy(logits.float(), y)}
        xa, xb = patch_swap(
            x[anchors], x[partners], self.grid, self.p, generator, one_cell=self.one_cell
        )
        first = torch.cat([xa, x[alone]])
        if self.mode == "separate" and pairs > 1:  # one pair: its partner pass would be 1 image
            logits_first, logits_b = model(first), model(xb)
        else:
            both = model(torch.cat([first, xb]))
            logits_first, logits_b = both[: len(first)], both[len(first) :]
        self._observe(torch.cat([logits_first[:pairs], logits_b]), y[anchors].repeat(2))
        parts = self.loss.components(logits_first[:pairs], logits_b, y[anchors])
        parts = {k: v * (2 * pairs / n) for k, v in parts.items()}
        if len(alone):
            lone = F.cross_entropy(logits_first[pairs:].float(), y[alone])
            parts["ce_alone"] = self.loss.gamma * lone * len(alone) / n
        return parts
