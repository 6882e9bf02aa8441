"""Evaluation: the plain forward pass of every test is `engine.accuracy` (no pairs, no swap),
which the trainer uses too.

The paper's evaluation suite lives in its own modules, imported where used because they pull
in scikit-learn, OpenCV and grad-cam: `metrics` (Table 10), `attacks` (Table 12),
`corruptions` / `corruption_sets` (Table 11), `analysis` / `gradcam` / `plots` (Table 1,
Figures 2, 4, 5, 8, 9, 10) and `suite` (`patchswap evaluate`).
"""
