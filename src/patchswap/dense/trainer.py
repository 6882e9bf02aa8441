"""The dense tasks (segmentation, detection) as a `Task` of the engine's training loop.

`engine.Trainer` runs them like classification: process set-up, SGD and the per-iteration
schedule (DeepLab's `poly` included), atomic `last.pt`/`best.pt`, exact resume, metrics.jsonl
and TensorBoard, DDP. `DenseTask` supplies only what differs, through the hooks of
`engine.task.Task`: a segmentation or detection model on a backbone cut from a classifier
(`dense.backbone`), whose weights load before a new run's first epoch; the head's losses per
batch (each step weighs 1, so a loss part is a mean over steps); mIoU or VOC07 mAP, which
picks `best.pt`. It is handed to the loop rather than overriding it, so the loop stays in
one place and the engine never imports this layer.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from ..engine.distributed import DistEnv, all_gather_objects
from ..engine.loaders import ShuffledBatchSampler
from ..engine.precision import autocast
from ..engine.task import Task, TaskStep, distributed_model
from ..engine.trainer import Trainer, effective_lr
from ..errors import PatchswapError
from ..infra.atomic_files import atomic_write_text
from ..infra.collectives import all_reduce_sum, broadcast_buffers
from ..scores import TASK_SCORES
from .backbone import WeightsReport, build_backbone, load_backbone_weights
from .config import DenseRunConfig
from .datasets.build import build_dense_data, collate_detection, collate_segmentation
from .datasets.voc import IGNORE_INDEX
from .heads import build_detection_model, build_segmentation_model
from .heads.pspnet import AUX_WEIGHT
from .metrics import SegmentationScores, VOCAveragePrecision, segmentation_confusion


class DenseTrainer(Trainer):
    """`Trainer` on `DenseTask`: trains `cfg.model` on `cfg.data` for `cfg.task`; `fit()`
    returns the summary. It only supplies the task."""

    def __init__(self, cfg: DenseRunConfig, *, quiet: bool = False) -> None:
        super().__init__(cfg, quiet=quiet, task=DenseTask(cfg))

    @property
    def backbone(self) -> torch.nn.Module:
        """The classifier's body the head sits on (what `model.weights` loads into)."""
        return self.task.backbone


class DenseTask(Task):
    """Segmentation or detection on a classifier's backbone (the hooks of `engine.task`)."""

    cfg: DenseRunConfig

    def __init__(self, cfg: DenseRunConfig) -> None:
        super().__init__(cfg)
        self.best_metrics = TASK_SCORES[cfg.task].tracked
        self.segmentation = cfg.task == "segmentation"
        self.weights_report: WeightsReport | None = None

    def build(self, env: DistEnv, device: torch.device) -> None:
        cfg = self.cfg
        self.env, self.device = env, device
        self.data = build_dense_data(cfg.data, cfg.task)
        # The checkpoint's weights load in `before_fit`, and only into a new run: a resumed run
        # restores its own weights and never needs the checkpoint again.
        backbone, _ = build_backbone(
            cfg.model.backbone, self.data.in_channels, cfg.model.taps, **cfg.model.backbone_kwargs
        )
        self.backbone = backbone
        classes = len(self.data.classes)
        if self.segmentation:
            self.model = build_segmentation_model(
                cfg.model.name, backbone, classes, **cfg.model.options
            )
        else:
            self.model = build_detection_model(
                cfg.model.name,
                backbone,
                classes,
                cfg.data.size,
                cfg.data.mean,
                cfg.data.std,
                **cfg.model.options,
            )
        per_process = cfg.batch_size // env.world_size
        sync_bn = env.enabled and cfg.distributed.sync_bn
        if per_process == 1 and not sync_bn:
            raise PatchswapError(
                f"batch_size={cfg.batch_size} leaves 1 image per process: batch norm (ASPP's "
                "image pooling, SSD's last 1x1 map) cannot train on it; use >= 2 images per "
                "process, or distributed.sync_bn=true under torchrun"
            )
        if sync_bn:  # mmseg's PSPNet trains with SyncBN; jfzhang95 offers it
            self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        self.model.to(device)
        self.forward_model = distributed_model(self.model, env, device)
        collate = collate_segmentation if self.segmentation else collate_detection
        sampler = ShuffledBatchSampler(
            len(self.data.train), per_process, cfg.seed, env.world_size, env.rank
        )
        workers = cfg.data.num_workers
        self.train_loader = DataLoader(
            self.data.train,
            batch_sampler=sampler,
            collate_fn=collate,
            num_workers=workers,
            persistent_workers=workers > 0,
        )
        shard = Subset(self.data.test, range(env.rank, len(self.data.test), env.world_size))
        self.test_loader = DataLoader(
            shard, batch_size=cfg.eval_batch_size, collate_fn=collate, num_workers=workers
        )

    def parameter_groups(self, lr: float) -> list[dict[str, Any]]:
        """The backbone at `lr`, the head at `lr * head_lr_scale`."""
        backbone = {id(p) for p in self.backbone.parameters()}
        head = [p for p in self.model.parameters() if id(p) not in backbone]
        return [
            {"params": list(self.backbone.parameters()), "lr": lr},
            {"params": head, "lr": lr * self.cfg.head_lr_scale},
        ]

    def before_fit(self, new_run: bool) -> str | None:
        """A new run's backbone weights (`model.weights`), and what of them loaded."""
        model = self.cfg.model
        if not new_run or model.weights is None:
            return None
        self.weights_report = load_backbone_weights(self.backbone, model.backbone, model.weights)
        return self.weights_report.describe()

    def run_files(self, folder: Path) -> None:
        if self.weights_report is not None:  # what the backbone started from, tensor by tensor
            text = json.dumps(asdict(self.weights_report), indent=2) + "\n"
            atomic_write_text(folder / "backbone_weights.json", text)

    def header(self, folder: Path) -> str:
        cfg = self.cfg
        n_params = sum(p.numel() for p in self.model.parameters())
        weights = cfg.model.weights or "scratch"
        return (
            f"patchswap: {cfg.task} | {cfg.model.name} on {cfg.model.backbone} "
            f"(backbone from {weights}; {n_params / 1e6:.2f}M params) | {cfg.data.name}: "
            f"{len(self.data.train)} train, {len(self.data.test)} test | {self.device}, "
            f"{self.env.world_size} process(es), {cfg.precision} | {folder}\n"
            f"global batch {cfg.batch_size} images; lr {effective_lr(cfg):.4g}, "
            f"schedule {cfg.schedule.name}"
        )

    # ---------------------------------------------------------------- batches

    def train_step(self, batch: Any) -> TaskStep:
        """The head's losses on a batch of images (weight 1: loss parts average over steps)."""
        images, targets = self._to_device(*batch)
        return TaskStep(self._losses(images, targets), images=len(images))

    def _losses(self, images: torch.Tensor | list, targets: Any) -> dict[str, torch.Tensor]:
        if not self.segmentation:
            return self.forward_model(images, targets)
        out = self.forward_model(images)
        scale = 1 / self.cfg.batch_size if self.cfg.ce_batch_average else 1.0
        losses = {"ce": scale * F.cross_entropy(out["out"], targets, ignore_index=IGNORE_INDEX)}
        if "aux" in out:
            aux = F.cross_entropy(out["aux"], targets, ignore_index=IGNORE_INDEX)
            losses["aux"] = scale * AUX_WEIGHT * aux
        return losses

    def _to_device(self, images: Any, targets: Any) -> tuple[Any, Any]:
        if self.segmentation:
            return images.to(self.device), targets.to(self.device)
        images = [image.to(self.device) for image in images]
        targets = [{k: v.to(self.device) for k, v in t.items()} for t in targets]
        return images, targets

    @torch.no_grad()
    def evaluate(self) -> dict[str, Any]:
        """mIoU, pixel accuracy and per-class IoU, or VOC07 mAP and per-class AP, in percent,
        over the whole test set (each process scores its shard; the counts are combined)."""
        broadcast_buffers(self.model)
        self.model.eval()
        classes = self.data.classes
        try:
            if self.segmentation:
                confusion = segmentation_confusion(len(classes)).to(self.device)
                for images, masks in self.test_loader:
                    images, masks = self._to_device(images, masks)
                    with autocast(self.cfg.precision, self.device):
                        logits = self.model(images)["out"]
                    confusion.update(logits.argmax(1), masks)
                scores = SegmentationScores.from_confusion(all_reduce_sum(confusion.compute()))
                return {
                    "miou": 100 * scores.miou,
                    "pixel_accuracy": 100 * scores.pixel_accuracy,
                    "iou": {name: 100 * iou for name, iou in zip(classes, scores.iou)},
                }
            metric = VOCAveragePrecision(len(classes))
            for images, targets in self.test_loader:
                images, targets = self._to_device(images, targets)
                with autocast(self.cfg.precision, self.device):
                    metric.update(self.model(images), targets)
            shards = all_gather_objects((metric.preds, metric.targets))
            metric.preds = [p for preds, _ in shards for p in preds]
            metric.targets = [t for _, targets in shards for t in targets]
            result = metric.compute()
            return {
                "map": 100 * result.map,
                "ap": {name: 100 * ap for name, ap in list(zip(classes, result.ap))[1:]},
            }
        finally:
            self.model.train()

    # ---------------------------------------------------------------- reporting

    def test_text(self, record: dict[str, Any]) -> str:
        if "test_miou" in record:
            return (
                f"test mIoU {record['test_miou']:6.2f} "
                f"pixel acc {record['test_pixel_accuracy']:6.2f}"
            )
        return f"test mAP {record['test_map']:6.2f}"

    def summary(self, best: dict[str, Any], last: dict[str, Any], seconds: float) -> dict[str, Any]:
        return dense_run_summary(self.cfg, best, last, seconds)


def dense_run_summary(
    cfg: DenseRunConfig, best: dict[str, Any], last: dict[str, Any], seconds: float
) -> dict[str, Any]:
    """What a dense run's `summary.json` holds; `compare` rebuilds a lost one from last.pt's
    `best` and the last record of metrics.jsonl."""
    scores = TASK_SCORES[cfg.task]
    return {
        "task": cfg.task,
        "model": cfg.model.name,
        "backbone": cfg.model.backbone,
        "weights": cfg.model.weights,
        "dataset": cfg.data.name,
        "seed": cfg.seed,
        "epochs_done": last["epoch"],
        "epochs": cfg.epochs,
        **{f"best_{k}": best[k] for k in scores.tracked},
        "best_epoch": best["epoch"],
        **{f"last_{k}": last[f"test_{k}"] for k in (*scores.tracked, scores.per_class)},
        "seconds": seconds,
    }
