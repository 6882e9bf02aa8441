"""Dense-task scores: segmentation IoU from a confusion matrix, detection VOC AP at IoU 0.5.

Segmentation accumulates torchmetrics' `MulticlassConfusionMatrix` (ignores void 255, syncs
across processes) and derives per-class IoU, mIoU and pixel accuracy from it, as VOC does.

Detection AP is written here: torchmetrics' `MeanAveragePrecision` is COCO's (101-point
interpolation, crowd regions instead of `difficult`, area ranges), while the paper's Table 9
reports VOC07's 11-point AP. This follows the devkit's `voc_eval.py` (py-faster-rcnn): per
class, detections sorted by score (stable: ties keep their input order) are matched greedily
to the ground-truth box of highest IoU in their image; IoU > threshold with a box not yet
matched is a true positive, with one already matched a false positive (a duplicate), with a
`difficult` box neither; anything else is a false positive. Recall counts non-difficult boxes.
Boxes are 0-based continuous XYXY (`voc.py`), whose plain IoU equals the devkit's `+1` IoU on
VOC's 1-based inclusive corners. The MATLAB devkit accepts IoU >= 0.5; `voc_eval.py`, and so
this, needs IoU > 0.5 (they differ only at exactly 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchmetrics.classification import MulticlassConfusionMatrix
from torchvision.ops import box_iou

from ..errors import PatchswapError
from .voc import IGNORE_INDEX

INTERPOLATIONS = ("11point", "area")  # VOC07's 11 recall points; VOC2010+'s area under the curve


def segmentation_confusion(num_classes: int) -> MulticlassConfusionMatrix:
    """Accumulator of (prediction, target) pixels; `update` takes logits or class ids.

    Rows are ground truth, columns prediction; void (255) pixels are skipped.
    """
    return MulticlassConfusionMatrix(num_classes, ignore_index=IGNORE_INDEX)


@dataclass(frozen=True)
class SegmentationScores:
    """Per-class IoU, mIoU and pixel accuracy of one confusion matrix.

    A class in neither ground truth nor prediction has IoU nan and is left out of the mean
    (VOC's mIoU over all 21 classes when all occur); pixel accuracy counts scored pixels.
    """

    iou: tuple[float, ...]
    miou: float
    pixel_accuracy: float

    @classmethod
    def from_confusion(cls, confusion: torch.Tensor) -> SegmentationScores:
        """Scores of a C x C confusion matrix (rows ground truth, columns prediction)."""
        matrix = confusion.double()
        hits = matrix.diagonal()
        union = matrix.sum(0) + matrix.sum(1) - hits
        iou = torch.where(union > 0, hits / union.clamp(min=1), torch.nan)
        return cls(
            iou=tuple(iou.tolist()),
            miou=float(iou.nanmean()),
            pixel_accuracy=float(hits.sum() / matrix.sum().clamp(min=1)),
        )


def average_precision(recall: np.ndarray, precision: np.ndarray, interpolation: str) -> float:
    """Area under a precision/recall curve, as `voc_ap` of the devkit.

    `11point`: the mean over recall r in 0, 0.1, ..., 1 of the best precision at recall >= r
    (0 where none). `area`: the exact area under the curve made monotone from the right.
    """
    if interpolation == "11point":
        return float(
            np.mean([precision[recall >= t].max(initial=0.0) for t in np.linspace(0, 1, 11)])
        )
    recall = np.concatenate(([0.0], recall, [1.0]))
    precision = np.concatenate(([0.0], precision, [0.0]))
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


@dataclass(frozen=True)
class DetectionScores:
    """Per-class AP and precision/recall curves, indexed by label as the class-name tuples.

    Background (0) and classes without a non-difficult ground-truth box have AP nan and empty
    curves; `map` is the mean over the others.
    """

    ap: tuple[float, ...]
    map: float
    recall: tuple[np.ndarray, ...]
    precision: tuple[np.ndarray, ...]


class VOCAveragePrecision:
    """Accumulates detections and ground truth image by image; `compute` gives VOC AP.

    `update(preds, targets)` takes lists with one dict per image: preds as torchvision's
    detection models return them (`boxes`, `scores`, `labels`), targets as `voc_detection`
    gives them (`boxes`, `labels`, `difficult`).
    """

    def __init__(
        self, num_classes: int, *, iou_threshold: float = 0.5, interpolation: str = "11point"
    ) -> None:
        if interpolation not in INTERPOLATIONS:
            raise PatchswapError(
                f"unknown AP interpolation {interpolation!r}; valid: {', '.join(INTERPOLATIONS)}"
            )
        self.num_classes = num_classes
        self.iou_threshold = iou_threshold
        self.interpolation = interpolation
        self.reset()

    def reset(self) -> None:
        self.preds: list[dict[str, torch.Tensor]] = []
        self.targets: list[dict[str, torch.Tensor]] = []

    def update(self, preds: list[dict], targets: list[dict]) -> None:
        if len(preds) != len(targets):
            raise PatchswapError(
                f"VOC AP needs one prediction per target image, got {len(preds)} and {len(targets)}"
            )
        keys = {"preds": ("boxes", "scores", "labels"), "targets": ("boxes", "labels", "difficult")}
        for name, dicts in (("preds", preds), ("targets", targets)):
            for d in dicts:
                missing = [k for k in keys[name] if k not in d]
                if missing:
                    raise PatchswapError(f"VOC AP {name} lack {', '.join(missing)}")
        self.preds += [{k: p[k].detach().cpu() for k in keys["preds"]} for p in preds]
        self.targets += [{k: t[k].detach().cpu() for k in keys["targets"]} for t in targets]

    def _class_curve(self, label: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Recall and precision after each detection of `label`, best score first.

        None when the class has no non-difficult ground truth (its AP is undefined).
        """
        positives = sum(int((~t["difficult"][t["labels"] == label]).sum()) for t in self.targets)
        if not positives:
            return None
        scores, outcomes = [], []  # outcome per detection: 1 true, -1 false, 0 difficult
        for pred, target in zip(self.preds, self.targets):
            mine = pred["labels"] == label
            if not mine.any():
                continue
            theirs = target["labels"] == label
            boxes, difficult = target["boxes"][theirs], target["difficult"][theirs].tolist()
            order = torch.sort(pred["scores"][mine], descending=True, stable=True).indices
            dets = pred["boxes"][mine][order]
            scores += pred["scores"][mine][order].tolist()
            if not len(boxes):
                outcomes += [-1] * len(dets)
                continue
            best_iou, best = box_iou(dets.double(), boxes.double()).max(1)
            matched: set[int] = set()
            for iou, j in zip(best_iou.tolist(), best.tolist()):
                if iou <= self.iou_threshold:
                    outcomes.append(-1)
                elif difficult[j]:
                    outcomes.append(0)
                else:
                    outcomes.append(-1 if j in matched else 1)
                    matched.add(j)
        # within an image the order above is the global one: a stable global sort keeps it
        ranked = np.asarray(outcomes)[np.argsort(-np.asarray(scores), kind="stable")]
        tp, fp = np.cumsum(ranked == 1), np.cumsum(ranked == -1)
        return tp / positives, tp / np.maximum(tp + fp, np.finfo(np.float64).eps)

    def compute(self) -> DetectionScores:
        curves = [self._class_curve(label) if label else None for label in range(self.num_classes)]
        ap = [np.nan if c is None else average_precision(*c, self.interpolation) for c in curves]
        scored = [a for a in ap if not np.isnan(a)]
        empty = (np.zeros(0), np.zeros(0))
        recall, precision = zip(*(empty if c is None else c for c in curves))
        return DetectionScores(
            ap=tuple(ap),
            map=float(np.mean(scored)) if scored else np.nan,
            recall=recall,
            precision=precision,
        )
