"""patchswap: teacher-free self-distillation with intra-class patch swap.

The method in a few lines of your own loop::

    from patchswap import IntraClassPairSampler, SelfDistillationLoss, patch_swap

    loader = DataLoader(train_set, batch_sampler=IntraClassPairSampler(labels, batch_size=64))
    criterion = SelfDistillationLoss(temperature=4.0, gamma=1.0, alpha=1.0)
    for x, y in loader:                      # x: anchors then their same-class partners
        xa, xb = patch_swap(x[:len(x) // 2], x[len(x) // 2:], grid=4, p=0.5)
        loss = criterion(model(xa), model(xb), y[:len(xa)])  # two passes, as Algorithm 1

Or, when the pipeline owns its loader (an IterableDataset, a streaming dataset, Lightning),
on ordinary shuffled batches with partners found inside each batch (`pairing="matched"`:
disjoint pairs, each image forwarded once, at the cost of cross-entropy)::

    from patchswap import PatchSwapObjective

    objective = PatchSwapObjective(grid=4, p=0.5)
    for x, y in DataLoader(train_set, batch_size=128, shuffle=True):
        loss = objective(model, x, y)

A training method of your own runs in patchswap's trainer (`patchswap.runs.train` on any
recipe) once registered with `@register_method` (the contract: `patchswap/methods/base.py`).
"""

from .losses import SelfDistillationLoss, kl_divergence
from .methods import register_method
from .objective import PatchSwapObjective
from .pairs import IntraClassPairSampler, MatchedPairSampler, in_batch_partners, matched_pairs
from .schedules import AdaptivePr, ConstantPr, ProgressivePr, build_pr_schedule
from .swap import patch_swap

__version__ = "0.2.0"

__all__ = [
    "AdaptivePr",
    "ConstantPr",
    "IntraClassPairSampler",
    "MatchedPairSampler",
    "PatchSwapObjective",
    "ProgressivePr",
    "SelfDistillationLoss",
    "build_pr_schedule",
    "in_batch_partners",
    "kl_divergence",
    "matched_pairs",
    "patch_swap",
    "register_method",
]
