"""Each metric against values computed by hand on four samples (ties and bin edges included)."""

import math

import numpy as np
import pytest

from patchswap.errors import PatchswapError
from patchswap.evaluation.metrics import (
    aurc,
    brier_score,
    calibration_bins,
    classification_metrics,
    eaurc,
    expected_calibration_error,
    fpr_at_95_tpr,
    nll,
    risk_coverage,
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
