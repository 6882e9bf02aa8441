"""Dense-task scores: segmentation IoU from a confusion matrix, detection VOC AP at IoU 0.5.

Segmentation accumulates an integer confusion matrix (void 255 skipped) with `bincount` over
chunks of pixels, and derives per-class IoU, mIoU and pixel accuracy from it, as VOC does.
torchmetrics' `MulticlassConfusionMatrix`, used before, falls back under deterministic mode
(the trainer's default) to an N x C^2 comparison mesh: 7.4 KB a pixel at 21 classes, 1.9 GB
for one 512 x 512 image. The counts here are the same, in O(chunk + C^2) memory; processes
combine their matrices with one sum (the trainer's `all_reduce_sum`).

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
from torchvision.ops import box_iou

from ..errors import PatchswapError
from .datasets.voc import IGNORE_INDEX

INTERPOLATIONS = ("11point", "area")  # VOC07's 11 recall points; VOC2010+'s area under the curve


# Pixels counted per bincount call: one int64 index (16 MiB) and two bool masks per chunk,
# whatever the batch (8 x 1024 x 2048 Cityscapes pixels: 8 chunks).
CHUNK_PIXELS = 1 << 21


def _out_of_range(what: str, values: torch.Tensor, num_classes: int, ignored: int | None) -> str:
    """The one-line refusal of the first class id in `values` outside 0..C-1 (and not ignored)."""
    bad = (values < 0) | (values >= num_classes)
    if ignored is not None:
        bad &= values != ignored
    also = f" and {ignored} (ignored)" if ignored is not None else ""
    return (
        f"segmentation {what} holds class id {int(values[bad][0])}; valid ids are 0-"
        f"{num_classes - 1}{also}"
    )


def confusion_counts(
    prediction: torch.Tensor,
    target: torch.Tensor,
    num_classes: int,
    *,
    ignore_index: int = IGNORE_INDEX,
    chunk_pixels: int = CHUNK_PIXELS,
) -> torch.Tensor:
    """C x C int64 pixel counts, rows ground truth, columns prediction; `ignore_index` skipped.

    `torch.bincount` of `target * C + prediction` over chunks of the flattened maps (ignored
    pixels go to an extra bin that is dropped), into buffers reused from chunk to chunk: exact
    integer counts in O(chunk + C^2) memory besides the inputs, on their device. Without
    weights, bincount is deterministic on CPU and CUDA (integer counts do not depend on the
    order they are added in) and `torch.use_deterministic_algorithms` does not flag it, so
    deterministic runs need no slower fallback. A class id outside 0..C-1 is refused, in the
    target (other than the ignored one) or anywhere in the prediction: it would land in
    another class's cell.
    """
    if prediction.shape != target.shape:
        raise PatchswapError(
            f"segmentation prediction {tuple(prediction.shape)} and target "
            f"{tuple(target.shape)} differ in shape"
        )
    if prediction.is_floating_point() or target.is_floating_point():
        raise PatchswapError("segmentation prediction and target must hold integer class ids")
    device = prediction.device
    cells = num_classes * num_classes
    counts = torch.zeros(cells + 1, dtype=torch.int64, device=device)
    flat_prediction = prediction.reshape(-1)
    flat_target = target.to(device).reshape(-1)
    size = min(chunk_pixels, flat_target.numel())
    index = torch.empty(size, dtype=torch.int64, device=device)
    ignored = torch.empty(size, dtype=torch.bool, device=device)
    bad = torch.empty(size, dtype=torch.bool, device=device)
    for start in range(0, flat_target.numel(), chunk_pixels):
        truth = flat_target[start : start + chunk_pixels]
        guess = flat_prediction[start : start + chunk_pixels]
        n = truth.numel()
        torch.eq(truth, ignore_index, out=ignored[:n])
        torch.ge(truth, num_classes, out=bad[:n]).logical_or_(truth < 0)
        if bool(bad[:n].logical_and_(ignored[:n].logical_not()).any()):
            raise PatchswapError(_out_of_range("target", truth, num_classes, ignore_index))
        low, high = torch.aminmax(guess)
        if low < 0 or high >= num_classes:
            raise PatchswapError(_out_of_range("prediction", guess, num_classes, None))
        cell = index[:n].copy_(truth).mul_(num_classes).add_(guess)
        counts += torch.bincount(cell.masked_fill_(ignored[:n], cells), minlength=cells + 1)
    return counts[:cells].view(num_classes, num_classes)


class SegmentationConfusion:
    """Accumulator of (prediction, target) pixels; `update` takes logits or class ids.

    Rows are ground truth, columns prediction; void (255) pixels are skipped. Calling it
    counts a batch, adds it and returns the batch's matrix (torchmetrics' `forward`). No
    process sync: `compute` is this process's counts, summed across processes by the caller.
    """

    def __init__(self, num_classes: int, *, ignore_index: int = IGNORE_INDEX) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def to(self, device: torch.device | str) -> SegmentationConfusion:
        """Count on `device`, where the predictions are: no copy of them to the CPU."""
        self.matrix = self.matrix.to(device)
        return self

    def reset(self) -> None:
        """Forget the counts, for the next evaluation."""
        self.matrix = torch.zeros_like(self.matrix)

    def _counts(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if prediction.is_floating_point() and prediction.ndim == target.ndim + 1:
            prediction = prediction.argmax(1)  # logits N x C x H x W
        return confusion_counts(
            prediction.to(self.matrix.device),
            target,
            self.num_classes,
            ignore_index=self.ignore_index,
        )

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch's pixels: logits N x C x H x W or class ids N x H x W."""
        self.matrix += self._counts(prediction, target)

    def compute(self) -> torch.Tensor:
        """The counts so far (a copy: later updates do not change it)."""
        return self.matrix.clone()

    def __call__(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Add one batch and return its own matrix, as torchmetrics' `forward` does."""
        batch = self._counts(prediction, target)
        self.matrix += batch
        return batch


def segmentation_confusion(num_classes: int) -> SegmentationConfusion:
    """Accumulator of (prediction, target) pixels; `update` takes logits or class ids.

    Rows are ground truth, columns prediction; void (255) pixels are skipped.
    """
    return SegmentationConfusion(num_classes, ignore_index=IGNORE_INDEX)


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
