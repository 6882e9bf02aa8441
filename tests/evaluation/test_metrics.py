"""Each metric against values computed by hand on four samples (ties and bin edges included)."""

import math

import numpy as np
import pytest
from scipy.special import log_softmax

from patchswap.errors import PatchswapError
from patchswap.evaluation.metric_table import REPORT_SCALES
from patchswap.evaluation.metrics import (
    aupr_error,
    aurc,
    brier_score,
    calibration_bins,
    classification_metrics,
    eaurc,
    expected_calibration_error,
    fit_temperature,
    fpr_at_95_tpr,
    nll,
    risk_coverage,
    softmax,
    top_k_accuracy,
)

# Confidences .7, .5, .6, .6; correct, wrong, correct, wrong. Samples 3 and 4 tie at 0.6.
PROBS = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.5, 0.3, 0.2],
        [0.1, 0.6, 0.3],
        [0.2, 0.2, 0.6],
    ]
)
LABELS = np.array([0, 1, 1, 0])


def test_top_k_accuracy_with_tied_probabilities():
    assert top_k_accuracy(PROBS, LABELS, 1) == 0.5
    # Sample 4 ranks class 2, then the tie 0/1 in class order: its label 0 is in its top 2.
    assert top_k_accuracy(PROBS, LABELS, 2) == 1.0
    assert top_k_accuracy(PROBS, np.array([0, 1, 1, 1]), 2) == 0.75
    assert top_k_accuracy(PROBS, LABELS, 5) == 1.0  # k capped at K


def test_nll():
    expected = -(math.log(0.7) + math.log(0.3) + math.log(0.6) + math.log(0.2)) / 4
    assert nll(PROBS, LABELS) == pytest.approx(expected)


def test_ece_puts_a_confidence_on_an_upper_edge_into_the_lower_bin():
    # 2 bins (0, .5], (.5, 1]: the 0.5 confidence (wrong) is alone in the first bin:
    # |.5 - 0| * 1/4 + |(.7 + .6 + .6) / 3 - 2/3| * 3/4 = .125 + .025
    assert expected_calibration_error(PROBS, LABELS, bins=2) == pytest.approx(0.15)
    edges, confidence, accuracy, counts = calibration_bins(PROBS, LABELS, bins=2)
    assert counts.tolist() == [1, 3]
    assert accuracy[0] == 0.0 and confidence[0] == 0.5


def test_ece_skips_empty_bins_and_counts_all_samples():
    # 10 bins: .5 in (.4, .5], the two .6 in (.5, .6], .7 in (.6, .7]
    expected = (abs(0.5 - 0) + 2 * abs(0.6 - 0.5) + abs(0.7 - 1)) / 4
    assert expected_calibration_error(PROBS, LABELS, bins=10) == pytest.approx(expected)
    with pytest.raises(PatchswapError, match="bins=0 must be >= 1"):
        expected_calibration_error(PROBS, LABELS, bins=0)


def test_aurc_breaks_confidence_ties_by_input_order():
    # Order .7 (ok), .6 (sample 3, ok), .6 (sample 4, wrong), .5 (wrong): risks 0, 0, 1/3, 2/4
    assert risk_coverage(PROBS, LABELS).tolist() == pytest.approx([0, 0, 1 / 3, 0.5])
    assert aurc(PROBS, LABELS) == pytest.approx((1 / 3 + 0.5) / 4)
    # Swapping the tied samples swaps their order, and the area changes.
    swapped = PROBS[[0, 1, 3, 2]], LABELS[[0, 1, 3, 2]]
    assert aurc(*swapped) == pytest.approx((0.5 + 1 / 3 + 0.5) / 4)


def test_eaurc_subtracts_the_optimal_area():
    optimal = 0.5 + 0.5 * math.log(0.5)  # error rate 0.5
    assert eaurc(PROBS, LABELS) == pytest.approx((1 / 3 + 0.5) / 4 - optimal)
    wrong = np.array([2, 2, 0, 1])  # every sample wrong: AURC 1, optimal 1 + 0 * ln 0 = 1
    assert eaurc(PROBS, wrong) == pytest.approx(0.0)


def test_fpr_at_95_tpr_takes_the_nearest_roc_point():
    # Positives (correct) score .7 and .6, negatives .5 and .6. The ROC points with TPR 1 are
    # (FPR .5) at threshold .6 and (FPR 1) at .5; the first nearest is taken.
    assert fpr_at_95_tpr(PROBS, LABELS) == 0.5
    assert math.isnan(fpr_at_95_tpr(PROBS, PROBS.argmax(axis=1)))  # no negatives: undefined


def test_brier_score():
    per_sample = [0.09 + 0.04 + 0.01, 0.25 + 0.49 + 0.04, 0.01 + 0.16 + 0.09, 0.64 + 0.04 + 0.36]
    assert brier_score(PROBS, LABELS) == pytest.approx(np.mean(per_sample))


def test_classification_metrics_from_logits():
    result = classification_metrics(np.log(PROBS), LABELS, bins=2)
    assert result["top1"] == 0.5 and result["top5"] == 1.0
    assert result["ece"] == pytest.approx(0.15)
    assert result["brier"] == pytest.approx(0.555)
    assert result["nll"] == pytest.approx(nll(PROBS, LABELS))
    assert result["aurc"] == pytest.approx(aurc(PROBS, LABELS))


# Random predictions at error rates other than 0.5, against the formulas written out again
# here, loop by loop, independently of the vectorized code (ties have probability zero).
ERROR_RATES = (0.04, 0.13, 0.31, 0.72)


def random_predictions(error_rate: float, n: int = 400, classes: int = 7, seed: int = 0):
    rng = np.random.default_rng(seed)
    probs = softmax(rng.normal(scale=2.5, size=(n, classes)))
    predicted = probs.argmax(axis=1)
    labels = predicted.copy()
    wrong = rng.choice(n, size=round(error_rate * n), replace=False)
    labels[wrong] = (predicted[wrong] + rng.integers(1, classes, size=len(wrong))) % classes
    return probs, labels


def by_confidence(probs, labels):
    """(confidence, correct) pairs, most confident first."""
    pairs = [(max(p), int(np.argmax(p)) == y) for p, y in zip(probs.tolist(), labels.tolist())]
    return sorted(pairs, key=lambda pair: -pair[0])


@pytest.mark.parametrize("error_rate", ERROR_RATES)
def test_selective_risk_metrics_on_random_data(error_rate):
    probs, labels = random_predictions(error_rate)
    ranked = by_confidence(probs, labels)
    n, errors, risks = len(ranked), 0, []
    for i, (_, correct) in enumerate(ranked, start=1):
        errors += not correct
        risks.append(errors / i)
    expected_aurc = sum(risks) / n
    r = errors / n
    assert r == pytest.approx(error_rate)
    assert aurc(probs, labels) == pytest.approx(expected_aurc)
    assert eaurc(probs, labels) == pytest.approx(expected_aurc - (r + (1 - r) * math.log(1 - r)))


@pytest.mark.parametrize("error_rate", ERROR_RATES)
def test_misclassification_detection_on_random_data(error_rate):
    probs, labels = random_predictions(error_rate, seed=1)
    ranked = by_confidence(probs, labels)
    positives = sum(correct for _, correct in ranked)
    negatives = len(ranked) - positives
    # ROC points at every threshold, from accepting nothing to accepting everything.
    points, tp, fp = [(0.0, 0.0)], 0, 0
    for _, correct in ranked:
        tp, fp = tp + correct, fp + (not correct)
        points.append((tp / positives, fp / negatives))
    nearest = min(abs(tpr - 0.95) for tpr, _ in points)
    expected_fpr = min(fpr for tpr, fpr in points if abs(tpr - 0.95) == nearest)
    assert fpr_at_95_tpr(probs, labels) == pytest.approx(expected_fpr)
    # Average precision of finding the errors, least confident first.
    found, precision_sum = 0, 0.0
    for rank, (_, correct) in enumerate(reversed(ranked), start=1):
        if not correct:
            found += 1
            precision_sum += found / rank
    assert aupr_error(probs, labels) == pytest.approx(precision_sum / negatives)
    from sklearn.metrics import average_precision_score  # the reference code's function

    wrong = (probs.argmax(axis=1) != labels).astype(int)
    assert aupr_error(probs, labels) == pytest.approx(
        average_precision_score(wrong, -probs.max(axis=1))
    )


@pytest.mark.parametrize("error_rate", ERROR_RATES)
def test_calibration_and_scores_on_random_data(error_rate):
    probs, labels = random_predictions(error_rate, seed=2)
    bins = 15
    members = [[] for _ in range(bins)]
    for p, y in zip(probs.tolist(), labels.tolist()):
        confidence = max(p)
        members[math.ceil(confidence * bins) - 1].append((confidence, int(np.argmax(p)) == y))
    expected_ece = sum(
        abs(sum(c for c, _ in b) / len(b) - sum(ok for _, ok in b) / len(b)) * len(b)
        for b in members
        if b
    ) / len(labels)
    assert expected_calibration_error(probs, labels, bins) == pytest.approx(expected_ece)
    brier = [
        sum((q - (k == y)) ** 2 for k, q in enumerate(p))
        for p, y in zip(probs.tolist(), labels.tolist())
    ]
    assert brier_score(probs, labels) == pytest.approx(sum(brier) / len(brier))
    log_likelihood = [math.log(p[y]) for p, y in zip(probs.tolist(), labels.tolist())]
    assert nll(probs, labels) == pytest.approx(-sum(log_likelihood) / len(labels))


def test_report_scales_are_the_papers_table_10_units():
    assert REPORT_SCALES == {
        "top1": 100.0,
        "top5": 100.0,
        "nll": 1.0,
        "aurc": 1e3,
        "eaurc": 1e3,
        "fpr95": 1e2,
        "aupr_error": 1e2,
        "ece": 1e2,
        "ece_scaled": 1e2,
        "temperature": 1.0,  # a fitted T is reported as it is
        "brier": 1e2,
    }


def test_temperature_is_the_nll_minimum():
    """Over-confident logits (x3 of those the labels were drawn from) want T near 3; the fit
    beats every temperature of a fine grid."""
    rng = np.random.default_rng(3)
    true_logits = rng.normal(scale=1.5, size=(4000, 5))
    cumulative = np.cumsum(softmax(true_logits), axis=1)
    labels = np.minimum((rng.random((4000, 1)) > cumulative).sum(axis=1), 4)
    logits = 3.0 * true_logits

    def loss(t: float) -> float:
        return float(-log_softmax(logits / t, axis=1)[np.arange(4000), labels].mean())

    fitted = fit_temperature(logits, labels)
    assert fitted == pytest.approx(3.0, rel=0.1)
    assert all(loss(fitted) <= loss(t) + 1e-9 for t in np.linspace(0.5, 8.0, 151))
