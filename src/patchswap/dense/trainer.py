"""Training loop of the dense tasks, on the classification trainer's machinery.

`DenseTrainer` reuses `engine.Trainer` for everything but the batches: process set-up, SGD and
the per-iteration schedule (DeepLab's `poly` included), atomic `last.pt`/`best.pt`, exact
resume, metrics.jsonl and TensorBoard, DDP. It builds a segmentation or detection model on a
backbone cut from a classifier (`dense.backbone`), trains it with the head's losses, and picks
`best.pt` by mIoU or VOC07 mAP.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import asdict
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Subset

from ..config import dump_config
from ..engine.distributed import all_gather_objects, all_reduce_sum, broadcast_buffers
from ..engine.loaders import ShuffledBatchSampler
from ..engine.precision import autocast
from ..engine.trainer import LossWatch, Trainer, effective_lr
from ..errors import PatchswapError
from ..outputs import atomic_write_text
from ..scores import TASK_SCORES
from .backbone import WeightsReport, build_backbone, load_backbone_weights
from .config import DenseRunConfig
from .datasets import build_dense_data, collate_detection, collate_segmentation
from .metrics import SegmentationScores, VOCAveragePrecision, segmentation_confusion
from .models import AUX_WEIGHT, build_detection_model, build_segmentation_model
from .voc import IGNORE_INDEX


class DenseTrainer(Trainer):
    """Trains `cfg.model` on `cfg.data` for `cfg.task`; `fit()` returns the summary."""

    cfg: DenseRunConfig

    def build(self) -> None:
        cfg = self.cfg
        segmentation = cfg.task == "segmentation"
        self.best_metrics = TASK_SCORES[cfg.task].tracked
        self.data = build_dense_data(cfg.data, cfg.task)
        # The checkpoint's weights load in `fit`, and only into a new run: a resumed run
        # restores its own weights and never needs the checkpoint again.
        backbone, _ = build_backbone(
            cfg.model.backbone, self.data.in_channels, cfg.model.taps, **cfg.model.backbone_kwargs
        )
        self.backbone = backbone
        classes = len(self.data.classes)
        if segmentation:
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
        per_process = cfg.batch_size // self.env.world_size
        sync_bn = self.env.enabled and cfg.distributed.sync_bn
        if per_process == 1 and not sync_bn:
            raise PatchswapError(
                f"batch_size={cfg.batch_size} leaves 1 image per process: batch norm (ASPP's "
                "image pooling, SSD's last 1x1 map) cannot train on it; use >= 2 images per "
                "process, or distributed.sync_bn=true under torchrun"
            )
        if sync_bn:  # mmseg's PSPNet trains with SyncBN; jfzhang95 offers it
            self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        self.model.to(self.device)
        self.forward_model = self.model
        if self.env.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.forward_model = DistributedDataParallel(self.model, device_ids=ids)
        self.method_params = []
        self.weights_report: WeightsReport | None = None
        collate = collate_segmentation if segmentation else collate_detection
        sampler = ShuffledBatchSampler(
            len(self.data.train), per_process, cfg.seed, self.env.world_size, self.env.rank
        )
        workers = cfg.data.num_workers
        self.train_loader = DataLoader(
            self.data.train,
            batch_sampler=sampler,
            collate_fn=collate,
            num_workers=workers,
            persistent_workers=workers > 0,
        )
        shard = Subset(
            self.data.test, range(self.env.rank, len(self.data.test), self.env.world_size)
        )
        self.test_loader = DataLoader(
            shard, batch_size=cfg.eval_batch_size, collate_fn=collate, num_workers=workers
        )
        self.loader_kind = "dataloader"

    def parameter_groups(self) -> list[dict[str, Any]]:
        backbone = {id(p) for p in self.backbone.parameters()}
        head = [p for p in self.model.parameters() if id(p) not in backbone]
        lr = effective_lr(self.cfg)
        return [
            {"params": list(self.backbone.parameters()), "lr": lr},
            {"params": head, "lr": lr * self.cfg.head_lr_scale},
        ]

    def stateful_parts(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer, "scheduler": self.scheduler}

    def on_epoch_start(self, epoch: int) -> dict[str, float]:
        return {}

    def fit(self) -> dict[str, Any]:
        model = self.cfg.model
        if self.start_epoch == 1 and model.weights is not None:
            self.weights_report = load_backbone_weights(
                self.backbone, model.backbone, model.weights
            )
            self._say(self.weights_report.describe())
        return super().fit()

    # ---------------------------------------------------------------- loop

    def _losses(self, images: torch.Tensor | list, targets: Any) -> dict[str, torch.Tensor]:
        if self.cfg.task == "detection":
            return self.forward_model(images, targets)
        out = self.forward_model(images)
        scale = 1 / self.cfg.batch_size if self.cfg.ce_batch_average else 1.0
        losses = {"ce": scale * F.cross_entropy(out["out"], targets, ignore_index=IGNORE_INDEX)}
        if "aux" in out:
            aux = F.cross_entropy(out["aux"], targets, ignore_index=IGNORE_INDEX)
            losses["aux"] = scale * AUX_WEIGHT * aux
        return losses

    def _to_device(self, images: Any, targets: Any) -> tuple[Any, Any]:
        if self.cfg.task == "segmentation":
            return images.to(self.device), targets.to(self.device)
        images = [image.to(self.device) for image in images]
        targets = [{k: v.to(self.device) for k, v in t.items()} for t in targets]
        return images, targets

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the training images; returns the epoch's mean loss parts."""
        self.model.train()
        self.train_loader.batch_sampler.set_epoch(epoch)
        sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), device=self.device))
        images_seen = 0
        lr = self.optimizer.param_groups[0]["lr"]
        watch = LossWatch(self.device, epoch, lr)
        start = time.perf_counter()
        for step, (images, targets) in enumerate(self._progress_bar(epoch)):
            images, targets = self._to_device(images, targets)
            with autocast(self.cfg.precision, self.device):
                losses = self._losses(images, targets)
            loss = sum(losses.values())
            watch.see(loss, step)
            self._backward(loss)
            self._optimizer_step()
            for name, value in losses.items():
                sums[name] += value.detach()
            sums["loss"] += loss.detach()
            images_seen += len(images)
        watch.check()
        seconds = time.perf_counter() - start
        steps = torch.tensor(float(len(self.train_loader)), device=self.device)
        names = list(sums)
        totals = all_reduce_sum(torch.stack([*sums.values(), steps])).tolist()
        steps = totals[-1] or 1.0
        parts = {
            f"train_{k}" if k != "loss" else "train_loss": v / steps for k, v in zip(names, totals)
        }
        images_total = all_reduce_sum(torch.tensor(float(images_seen), device=self.device))
        return {
            "lr": lr,
            **parts,
            "train_seconds": seconds,
            "images_per_second": float(images_total) / seconds,
        }

    @torch.no_grad()
    def evaluate(self) -> dict[str, Any]:
        """mIoU, pixel accuracy and per-class IoU, or VOC07 mAP and per-class AP, in percent,
        over the whole test set (each process scores its shard; the counts are combined)."""
        broadcast_buffers(self.model)
        self.model.eval()
        classes = self.data.classes
        try:
            if self.cfg.task == "segmentation":
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

    def header(self) -> str:
        cfg = self.cfg
        n_params = sum(p.numel() for p in self.model.parameters())
        weights = cfg.model.weights or "scratch"
        return (
            f"patchswap: {cfg.task} | {cfg.model.name} on {cfg.model.backbone} "
            f"(backbone from {weights}; {n_params / 1e6:.2f}M params) | {cfg.data.name}: "
            f"{len(self.data.train)} train, {len(self.data.test)} test | {self.device}, "
            f"{self.env.world_size} process(es), {cfg.precision} | {self.folder}\n"
            f"global batch {cfg.batch_size} images; lr {effective_lr(cfg):.4g}, "
            f"schedule {cfg.schedule.name}"
        )

    def _write_run_files(self) -> None:
        atomic_write_text(self.folder / "config.yaml", dump_config(self.cfg))
        if self.weights_report is not None:  # what the backbone started from, tensor by tensor
            text = json.dumps(asdict(self.weights_report), indent=2) + "\n"
            atomic_write_text(self.folder / "backbone_weights.json", text)

    def _test_text(self, r: dict[str, Any]) -> str:
        if "test_miou" in r:
            return f"test mIoU {r['test_miou']:6.2f} pixel acc {r['test_pixel_accuracy']:6.2f}"
        return f"test mAP {r['test_map']:6.2f}"

    def _summary(self, last: dict[str, Any]) -> dict[str, Any]:
        return dense_run_summary(self.cfg, self.best, last, self.seconds)


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
