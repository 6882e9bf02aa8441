"""Evaluation: a single plain forward pass (no pairs, no swap; `engine.accuracy`, which the
trainer uses too, re-exported here).

The paper's evaluation suite lives in its own modules, imported where used because they pull
in scikit-learn, OpenCV and grad-cam: `metrics` (Table 10), `attacks` (Table 12),
`corruptions` / `corruption_sets` (Table 11), `analysis` / `gradcam` / `plots` (Table 1,
Figures 2, 4, 5, 8, 9, 10) and `suite` (`patchswap evaluate`).
"""

from ..engine.accuracy import collect_logits, evaluate, topk_correct, topk_hits

__all__ = ["collect_logits", "evaluate", "topk_correct", "topk_hits"]
