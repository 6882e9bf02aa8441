"""mIoU from a hand-computed confusion matrix; VOC07 AP on a hand-computed detection case."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchmetrics.classification import MulticlassConfusionMatrix, MulticlassJaccardIndex
from torchvision import tv_tensors

from patchswap.dense.metrics import (
    SegmentationScores,
    VOCAveragePrecision,
    average_precision,
    confusion_counts,
    segmentation_confusion,
)
from patchswap.errors import PatchswapError

# 4 classes, class 3 in neither map, one void pixel (its prediction is not scored)
TARGET = torch.tensor([[[0, 0, 1, 1], [2, 2, 255, 1]]])
PRED = torch.tensor([[[0, 1, 1, 1], [2, 0, 2, 2]]])
# (ground truth, prediction) pairs: (0,0) (0,1) (1,1) (1,1) (2,2) (2,0) (1,2)
CONFUSION = torch.tensor([[1, 1, 0, 0], [0, 2, 1, 0], [1, 0, 1, 0], [0, 0, 0, 0]])
# IoU = hits / (row + column - hits): 1 / (2 + 2 - 1), 2 / (3 + 3 - 2), 1 / (2 + 2 - 1)
IOU = (1 / 3, 1 / 2, 1 / 3)


def test_segmentation_scores_from_a_hand_computed_confusion_matrix() -> None:
    confusion = segmentation_confusion(4)
    confusion.update(PRED[:, :1], TARGET[:, :1])  # two batches accumulate
    confusion.update(PRED[:, 1:], TARGET[:, 1:])
    matrix = confusion.compute()
    assert torch.equal(matrix, CONFUSION)
    scores = SegmentationScores.from_confusion(matrix)
    assert scores.iou[:3] == pytest.approx(IOU) and math.isnan(scores.iou[3])
    assert scores.miou == pytest.approx((1 / 3 + 1 / 2 + 1 / 3) / 3)  # 7/18, class 3 left out
    assert scores.pixel_accuracy == pytest.approx(4 / 7)
    logits = torch.nn.functional.one_hot(PRED, 4).permute(0, 3, 1, 2).float()
    assert torch.equal(segmentation_confusion(4)(logits, TARGET), CONFUSION)


def test_iou_agrees_with_torchmetrics_jaccard() -> None:
    generator = torch.Generator().manual_seed(0)
    target = torch.randint(0, 6, (4, 16, 16), generator=generator)
    target[:, :2] = 255
    pred = torch.randint(0, 6, (4, 16, 16), generator=generator)
    pred[target == 2] = 2  # a class with IoU well above chance
    scores = SegmentationScores.from_confusion(segmentation_confusion(6)(pred, target))
    jaccard = MulticlassJaccardIndex(6, average=None, ignore_index=255)(pred, target)
    assert scores.iou == pytest.approx(jaccard.tolist())


def _reference_confusion(pred: np.ndarray, target: np.ndarray, classes: int) -> np.ndarray:
    """The plain definition: one count per scored pixel at (ground truth, prediction)."""
    matrix = np.zeros((classes, classes), np.int64)
    scored = target != 255
    np.add.at(matrix, (target[scored], pred[scored]), 1)
    return matrix


@pytest.mark.parametrize("classes", [2, 6, 19, 21, 150])
def test_confusion_counts_match_the_definition_in_deterministic_mode(classes: int) -> None:
    generator = torch.Generator().manual_seed(classes)
    target = torch.randint(0, classes, (3, 37, 53), generator=generator)
    target[torch.rand(target.shape, generator=generator) < 0.2] = 255  # void, scattered
    pred = torch.randint(0, classes, target.shape, generator=generator)
    expected = _reference_confusion(pred.numpy(), target.numpy(), classes)
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)  # strict: an op it flags would raise
    try:
        for chunk in (7, 1000, 1 << 22):  # chunk edges inside, at and past the maps
            counts = confusion_counts(pred, target, classes, chunk_pixels=chunk)
            assert counts.dtype == torch.int64 and np.array_equal(counts.numpy(), expected)
        uint8 = confusion_counts(pred.to(torch.uint8), target.to(torch.uint8), classes)
        assert np.array_equal(uint8.numpy(), expected)  # masks as the readers give them
    finally:
        torch.use_deterministic_algorithms(before)
    # what torchmetrics' MulticlassConfusionMatrix counted before (non-deterministic path)
    previous = MulticlassConfusionMatrix(classes, ignore_index=255)(pred, target)
    assert torch.equal(counts, previous)
    assert int(counts.sum()) == int((target != 255).sum())


def test_confusion_refuses_ids_out_of_range() -> None:
    target = torch.tensor([[0, 255, 30]])
    with pytest.raises(PatchswapError, match="target holds class id 30; valid ids are 0-20"):
        confusion_counts(torch.zeros_like(target), target, 21)
    with pytest.raises(PatchswapError, match="prediction holds class id -1"):
        confusion_counts(torch.tensor([[0, 0, -1]]), torch.tensor([[0, 0, 1]]), 21)
    with pytest.raises(PatchswapError, match=r"\(1, 3\) and target \(3,\) differ"):
        confusion_counts(torch.zeros(1, 3, dtype=torch.long), torch.zeros(3, dtype=torch.long), 4)
    all_void = confusion_counts(torch.tensor([[3]]), torch.tensor([[255]]), 4)
    assert all_void.shape == (4, 4) and not all_void.any()


def _boxes(*boxes: list[float]) -> tv_tensors.BoundingBoxes:
    return tv_tensors.BoundingBoxes(
        torch.tensor(boxes, dtype=torch.float).reshape(-1, 4), format="XYXY", canvas_size=(64, 64)
    )


def _target(boxes: list[list[float]], labels: list[int], difficult: list[bool]) -> dict:
    return {
        "boxes": _boxes(*boxes),
        "labels": torch.tensor(labels),
        "difficult": torch.tensor(difficult, dtype=torch.bool),
    }


def _pred(boxes: list[list[float]], scores: list[float], labels: list[int]) -> dict:
    return {"boxes": _boxes(*boxes), "scores": torch.tensor(scores), "labels": torch.tensor(labels)}


# Class 1: three non-difficult boxes (g1 in image A; g3, g4 in image B) and a difficult one
# (g2 in A). Five detections, given out of score order:
#   d1 0.9 A IoU 0.8 with g1 -> true positive
#   d2 0.8 A IoU 0.7 with g1 -> false positive (duplicate: g1 already matched)
#   d3 0.7 A IoU 1.0 with g2 -> ignored (difficult)
#   d4 0.6 B IoU 0.6 with g3 -> true positive
#   d5 0.5 B IoU 0.3 with g4 -> false positive (below 0.5)
# cumulative TP 1 1 1 2 2, FP 0 1 1 1 2 -> recall 1/3 1/3 1/3 2/3 2/3, precision 1 1/2 1/2 2/3 1/2
# 11-point: best precision at recall >= 0, .1, .2, .3 is 1; at .4, .5, .6 it is 2/3; above, 0
#   -> (4 * 1 + 3 * 2/3) / 11 = 6/11.  Area: 1/3 * 1 + 1/3 * 2/3 = 5/9.
# Class 2: one box in B; detections 0.95 in A (no class-2 box there: FP) and 0.4 in B (TP)
#   -> recall 0 1, precision 0 1/2 -> 11-point 1/2, area 1/2. Class 3: no boxes -> nan.
RECALL = [1 / 3, 1 / 3, 1 / 3, 2 / 3, 2 / 3]
PRECISION = [1, 1 / 2, 1 / 2, 2 / 3, 1 / 2]
PREDS = [
    _pred(  # image A
        [[0, 0, 10, 7], [20, 20, 30, 30], [0, 0, 10, 8], [40, 40, 50, 50]],
        [0.8, 0.7, 0.9, 0.95],
        [1, 1, 1, 2],
    ),
    _pred(  # image B
        [[20, 0, 23, 10], [40, 40, 50, 50], [0, 0, 10, 6]],
        [0.5, 0.4, 0.6],
        [1, 2, 1],
    ),
]
TARGETS = [
    _target([[0, 0, 10, 10], [20, 20, 30, 30]], [1, 1], [False, True]),
    _target([[0, 0, 10, 10], [20, 0, 30, 10], [40, 40, 50, 50]], [1, 1, 2], [False] * 3),
]


@pytest.mark.parametrize(("interpolation", "ap1"), [("11point", 6 / 11), ("area", 5 / 9)])
def test_voc_ap_on_a_hand_computed_case(interpolation: str, ap1: float) -> None:
    metric = VOCAveragePrecision(4, interpolation=interpolation)
    metric.update(PREDS[:1], TARGETS[:1])
    metric.update(PREDS[1:], TARGETS[1:])
    scores = metric.compute()
    assert scores.recall[1] == pytest.approx(RECALL)
    assert scores.precision[1] == pytest.approx(PRECISION)
    assert scores.ap[1] == pytest.approx(ap1) and scores.ap[2] == pytest.approx(1 / 2)
    assert math.isnan(scores.ap[0]) and math.isnan(scores.ap[3])
    assert scores.map == pytest.approx((ap1 + 1 / 2) / 2)
    metric.reset()
    assert math.isnan(metric.compute().map)


def test_average_precision_formulas() -> None:
    recall, precision = np.array(RECALL), np.array(PRECISION)
    assert average_precision(recall, precision, "11point") == pytest.approx(6 / 11)
    assert average_precision(recall, precision, "area") == pytest.approx(5 / 9)
    perfect = np.array([0.5, 1.0]), np.array([1.0, 1.0])
    assert average_precision(*perfect, "11point") == average_precision(*perfect, "area") == 1


@pytest.mark.parametrize(("bottom", "ap"), [(5.0, 0.0), (5.01, 1.0)])
def test_iou_must_exceed_the_threshold(bottom: float, ap: float) -> None:
    metric = VOCAveragePrecision(2)  # IoU exactly 0.5 is a miss, as in voc_eval.py
    metric.update(
        [_pred([[0, 0, 10, bottom]], [0.9], [1])], [_target([[0, 0, 10, 10]], [1], [False])]
    )
    assert metric.compute().ap[1] == pytest.approx(ap)


def test_bad_metric_inputs() -> None:
    with pytest.raises(PatchswapError, match="unknown AP interpolation 'coco'; valid: 11point"):
        VOCAveragePrecision(2, interpolation="coco")
    with pytest.raises(PatchswapError, match="one prediction per target image, got 2 and 1"):
        VOCAveragePrecision(2).update(PREDS, TARGETS[:1])
    with pytest.raises(PatchswapError, match="targets lack difficult"):
        VOCAveragePrecision(2).update(PREDS[:1], [{"boxes": _boxes(), "labels": torch.zeros(0)}])
