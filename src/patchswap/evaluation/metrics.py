"""Accuracy, calibration and selective-risk metrics of Table 10, from predicted probabilities.

Definitions follow the public reference code of these metrics (daintlab/confidence-aware-
learning `metrics.py`, the same functions in Impression2805/OpenMix and FMFP): confidence is the
maximum softmax probability (MSP) and a sample is correct when its argmax equals its label.
Every function takes `probs` (N, K) and integer `labels` (N,) as NumPy arrays and returns a raw
value (a fraction, not a percentage); `metric_table.REPORT_SCALES` gives the paper's report units.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, xlogy
from sklearn.metrics import average_precision_score, roc_curve

from ..errors import PatchswapError


def softmax(logits: torch.Tensor | np.ndarray) -> np.ndarray:
    """Float64 softmax, so small probabilities survive for NLL."""
    return torch.as_tensor(logits).double().softmax(dim=1).numpy()


def correctness(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Boolean (N,): argmax == label (ties go to the lowest class index, as NumPy's argmax)."""
    return probs.argmax(axis=1) == labels


def top_k_accuracy(probs: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Fraction of samples whose label is among the k highest probabilities (k capped at K).

    Ties are ranked by the stable order of `argsort` on `-probs` (lower class index first).
    """
    k = min(k, probs.shape[1])
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the labels, -log p[label] (probabilities floored at
    the smallest positive float so a zero probability gives a large finite value)."""
    picked = probs[np.arange(len(labels)), labels]
    return float(-np.log(np.maximum(picked, np.finfo(np.float64).tiny)).mean())


def calibration_bins(
    probs: np.ndarray, labels: np.ndarray, bins: int = 15
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`(edges, confidence, accuracy, counts)` of `bins` equal-width bins over (0, 1]; a bin
    holds confidences in (lower, upper]; empty bins have NaN confidence and accuracy."""
    if bins < 1:
        raise PatchswapError(f"ECE bins={bins} must be >= 1, e.g. 15")
    confidence = probs.max(axis=1)
    correct = correctness(probs, labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    mean_confidence = np.full(bins, np.nan)
    accuracy = np.full(bins, np.nan)
    counts = np.zeros(bins, dtype=np.int64)
    for i, (lower, upper) in enumerate(zip(edges[:-1], edges[1:])):
        in_bin = (confidence > lower) & (confidence <= upper)
        counts[i] = in_bin.sum()
        if counts[i]:
            mean_confidence[i] = confidence[in_bin].mean()
            accuracy[i] = correct[in_bin].mean()
    return edges, mean_confidence, accuracy, counts


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE with `bins` equal-width bins; a bin holds confidences in (lower, upper].

    Sum over non-empty bins of |mean confidence - accuracy| times the bin's share of samples
    (Naeini et al. 2015; 15 bins as in confidence-aware-learning, PS-KD's code uses 10).
    """
    _, confidence, accuracy, counts = calibration_bins(probs, labels, bins)
    filled = counts > 0
    return float((np.abs(confidence - accuracy)[filled] * counts[filled]).sum() / len(labels))


def risk_coverage(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Selective risk at each coverage i/N: errors among the i most confident samples / i.

    Samples are sorted by confidence, descending and stable (ties keep their input order), as
    Python's `sorted(..., reverse=True)` does in the reference code.
    """
    order = np.argsort(-probs.max(axis=1), kind="stable")
    errors = ~correctness(probs, labels)[order]
    return np.cumsum(errors) / np.arange(1, len(errors) + 1)


def aurc(probs: np.ndarray, labels: np.ndarray) -> float:
    """Area under the risk-coverage curve: the mean of `risk_coverage` (Geifman et al. 2018)."""
    return float(risk_coverage(probs, labels).mean())


def eaurc(probs: np.ndarray, labels: np.ndarray) -> float:
    """Excess AURC: AURC minus that of a perfect ranking, r + (1 - r) ln(1 - r), r = error rate."""
    r = 1.0 - correctness(probs, labels).mean()
    return aurc(probs, labels) - float(r + xlogy(1.0 - r, 1.0 - r))


def fpr_at_95_tpr(probs: np.ndarray, labels: np.ndarray) -> float:
    """FPR of misclassification detection (correct = positive, score = MSP) at the ROC point
    whose TPR is nearest 0.95, without interpolation (`sklearn.metrics.roc_curve` defaults, as
    the reference `calc_fpr_aupr`). NaN when every sample is correct or every one is wrong."""
    correct = correctness(probs, labels)
    if correct.all() or not correct.any():
        return float("nan")
    fpr, tpr, _ = roc_curve(correct.astype(int), probs.max(axis=1))
    return float(fpr[np.argmin(np.abs(tpr - 0.95))])


def aupr_error(probs: np.ndarray, labels: np.ndarray) -> float:
    """Area under the precision-recall curve of error detection (wrong = positive, score =
    -MSP), as CRL's `calc_fpr_aupr` (`sklearn.metrics.average_precision_score`). NaN when every
    sample is correct or every one is wrong."""
    correct = correctness(probs, labels)
    if correct.all() or not correct.any():
        return float("nan")
    return float(average_precision_score((~correct).astype(int), -probs.max(axis=1)))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T minimizing the NLL of softmax(logits / T) (Guo et al. 2017).

    Written here because no dependency of the project provides it; the NLL is one-dimensional
    and smooth in log T, so a bounded scalar search over T in [0.05, 20] finds it exactly
    (the reference code runs LBFGS on T for the same optimum).
    """
    logits = np.asarray(logits, dtype=np.float64)
    picked = np.arange(len(labels))

    def loss(log_t: float) -> float:
        return float(-log_softmax(logits / np.exp(log_t), axis=1)[picked, labels].mean())

    found = minimize_scalar(loss, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(found.x))


def brier_score(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean over samples of the squared error to the one-hot label, summed over classes."""
    onehot = np.zeros_like(probs)
    onehot[np.arange(len(labels)), labels] = 1.0
    return float(((probs - onehot) ** 2).sum(axis=1).mean())


def classification_metrics(
    logits: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray, bins: int = 15
) -> dict[str, float]:
    """All of the above from logits, raw (multiply by `metric_table.REPORT_SCALES` for the
    paper's units)."""
    probs = softmax(logits)
    labels = np.asarray(labels, dtype=np.int64)
    return {
        "top1": top_k_accuracy(probs, labels, 1),
        "top5": top_k_accuracy(probs, labels, 5),
        "nll": nll(probs, labels),
        "aurc": aurc(probs, labels),
        "eaurc": eaurc(probs, labels),
        "fpr95": fpr_at_95_tpr(probs, labels),
        "aupr_error": aupr_error(probs, labels),
        "ece": expected_calibration_error(probs, labels, bins),
        "brier": brier_score(probs, labels),
    }
