"""The training loop shared by every method and task.

`Trainer` owns a run: process set-up, seeds, SGD and the per-iteration lr schedule, the epoch
loop, checkpoints (atomic `last.pt` / `best.pt` that resume bit-for-bit on CPU), the logs and
DDP. What it trains is a `Task` (`engine.task`), reached only through that contract's hooks:
composition rather than subclassing, so a task cannot change the loop by overriding its
internals, and the engine never imports a task above it. `ClassificationTask`, the default,
lives here beside the loop because `Trainer(cfg)` trains it and `run_summary` is its summary:
a method turns a batch into named losses (`patchswap.methods`) and the test pass is a plain
forward.
"""

from __future__ import annotations

import json
import math
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ..checkpoint import (
    CHECKPOINT_FORMAT,
    best_checkpoint,
    load_model_weights,
    save_checkpoint,
)
from ..config import RunConfig, dump_config
from ..data import build_datasets
from ..data.label_noise import write_label_noise
from ..errors import CheckpointError, PatchswapError
from ..infra.atomic_files import (
    WriteError,
    atomic_write_text,
    remove_stale_temp_files,
)
from ..infra.collectives import all_reduce_sum, broadcast_buffers
from ..methods import Batch, MethodContext, StepOutput, build_method
from ..models import build_model
from ..scores import TASK_SCORES
from .accuracy import evaluate, topk_hits
from .device import resolve_device
from .distributed import DistEnv, all_gather_objects, average_gradients, barrier, init_distributed
from .loaders import build_loaders
from .optim import build_lr_scheduler, build_optimizer
from .precision import autocast, grad_scaler, memory_format
from .reproducibility import rng_state, seed_everything, set_deterministic, set_rng_state
from .run_log import RunLog
from .step_stats import conv_gradient_magnitudes, pair_statistics
from .task import Task, TaskStep, distributed_model

# How often (in steps) the loop looks at its on-device non-finite-loss flag: a host sync every
# step would stall a GPU; a non-finite loss is still reported with the step it first appeared.
NONFINITE_CHECK_STEPS = 50


class LossWatch:
    """Stops an epoch with one line at the first nan/inf training loss. The step it appeared
    at is kept on the device and read every `NONFINITE_CHECK_STEPS` steps and by `check()`."""

    def __init__(self, device: torch.device, epoch: int, lr: float) -> None:
        self.first = torch.full((), -1, device=device)
        self.epoch, self.lr = epoch, lr

    def see(self, loss: torch.Tensor, step: int) -> None:
        bad = (self.first < 0) & ~torch.isfinite(loss.detach())
        self.first = torch.where(bad, step, self.first)
        if step % NONFINITE_CHECK_STEPS == 0:
            self.check()

    def check(self) -> None:
        step = int(self.first)
        if step >= 0:
            raise PatchswapError(
                f"the training loss became nan or inf at epoch {self.epoch}, step {step}; "
                f"lower optim.lr (now {self.lr}) or add schedule.warmup_epochs"
            )


def run_folder(cfg: RunConfig) -> Path:
    """Where a run writes: `output_dir/name` (name defaults to the method, or the head)."""
    return Path(cfg.output_dir) / cfg.run_name()


def effective_lr(cfg: RunConfig) -> float:
    """The learning rate after the recipe's scaling rule for the global batch."""
    if cfg.optim.lr_scaling == "linear":
        return cfg.optim.lr * cfg.batch_size / cfg.optim.base_batch_size
    return cfg.optim.lr


class Trainer:
    """Builds the run a config describes and trains its `task`: a `ClassificationTask` of a
    `RunConfig` unless another `Task` (with its own config) is given; `fit()` trains and
    returns the summary.

    Under `torchrun` each process trains on its shard of every global batch with
    DistributedDataParallel; metrics are summed over processes and only rank 0 writes.
    """

    def __init__(self, cfg: Any, *, quiet: bool = False, task: Task | None = None) -> None:
        self.cfg = cfg
        self.task = task if task is not None else ClassificationTask(cfg)
        device = resolve_device(cfg.device)
        self.env = init_distributed(device.type == "cuda")
        self.device = (
            torch.device("cuda", self.env.local_rank)
            if self.env.enabled and device.type == "cuda"
            else device
        )
        self.quiet = quiet or not self.env.is_main
        if cfg.batch_size % self.env.world_size:
            raise PatchswapError(
                f"batch_size={cfg.batch_size} (the global batch) must be divisible by the "
                f"{self.env.world_size} processes; use a multiple of {self.env.world_size}"
            )
        seed_everything(cfg.seed + self.env.rank)  # ranks draw different augmentations
        set_deterministic(cfg.deterministic)
        self.task.build(self.env, self.device)
        groups = self.task.parameter_groups(effective_lr(cfg))
        self.optimizer = build_optimizer(cfg.optim, groups, effective_lr(cfg))
        self.scheduler = build_lr_scheduler(
            cfg.schedule, self.optimizer, cfg.epochs, len(self.train_loader)
        )
        self.scaler = grad_scaler(cfg.precision, self.device)
        self.folder = run_folder(cfg)
        self.start_epoch = 1
        self.best: dict[str, Any] = {self.task.best_metrics[0]: -math.inf}
        self.seconds = 0.0
        # Names this run in its checkpoints, so a resume never writes into another run's folder.
        self.run_id = uuid.uuid4().hex

    # What the task built, read here by the loop and by tests and benchmarks.

    @property
    def model(self) -> torch.nn.Module:
        return self.task.model

    @property
    def data(self) -> Any:
        return self.task.data

    @property
    def train_loader(self) -> Any:
        return self.task.train_loader

    @property
    def test_loader(self) -> Any:
        return self.task.test_loader

    @property
    def loader_kind(self) -> str:
        return self.task.loader_kind

    @property
    def method(self) -> Any:
        """The classification task's method (another task has none)."""
        return self.task.method

    # ---------------------------------------------------------------- checkpoints

    def stateful_parts(self) -> dict[str, Any]:
        """What a checkpoint saves besides the model, by key (each has `state_dict`)."""
        return {
            **self.task.stateful_parts(),
            "optimizer": self.optimizer,
            "scheduler": self.scheduler,
        }

    def state_dict(self, epoch: int) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "run_id": self.run_id,
            "epoch": epoch,
            "config": self.cfg.to_dict(),
            "model": self.model.state_dict(),
            **{key: part.state_dict() for key, part in self.stateful_parts().items()},
            "rng": all_gather_objects(rng_state()),  # one state per process, in rank order
            "best": self.best,
            "seconds": self.seconds,
        }

    def restore(self, state: dict[str, Any], source: str) -> None:
        """Continue from a `last.pt` state; RNG state is restored last, right before training."""
        load_model_weights(self.model, state, source)
        for part, target in self.stateful_parts().items():
            try:
                target.load_state_dict(state[part])
            except (RuntimeError, KeyError, ValueError) as err:
                first = str(err).strip().splitlines()[0]
                raise CheckpointError(
                    f"checkpoint {source!r}: its {part} state does not fit this run's "
                    f"{self.cfg.run_kind()!r} {part} ({first}); it was written by another "
                    "version of patchswap: finish the run with that version"
                ) from None
        self.start_epoch = state["epoch"] + 1
        self.best = state["best"]
        self.seconds = state["seconds"]
        self.run_id = state.get("run_id", self.run_id)
        states = state["rng"]
        if len(states) != self.env.world_size:
            raise PatchswapError(
                f"checkpoint {source!r} was written by {len(states)} process(es); resume it with "
                f"the same number (now {self.env.world_size}) to continue the same run"
            )
        set_rng_state(states[self.env.rank])

    # ---------------------------------------------------------------- loop

    def _say(self, text: str) -> None:
        if not self.quiet:
            tqdm.write(text)

    def train_epoch(self, epoch: int) -> dict[str, Any]:
        """One pass over the task's training batches; returns the epoch's mean loss parts,
        the task's training scores and the throughput."""
        task = self.task
        task.start_train_epoch()
        self.train_loader.batch_sampler.set_epoch(epoch)
        sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), device=self.device))
        counts: dict[str, torch.Tensor | int] = {}  # the steps' `counts`, summed
        # images: throughput; samples: the losses' weights (TaskStep.weight)
        images_seen = samples_seen = 0
        lr = self.optimizer.param_groups[0]["lr"]
        watch = LossWatch(self.device, epoch, lr)
        bar = self._progress_bar(epoch)
        start = time.perf_counter()
        for step, batch in enumerate(bar):
            with autocast(self.cfg.precision, self.device):
                out = task.train_step(batch)
            loss = sum(out.losses.values())
            watch.see(loss, step)
            self._backward(loss)
            task.after_backward(out)
            self._optimizer_step()

            weight = out.weight
            for name, value in out.losses.items():
                sums[name] += value.detach() * weight
            sums["loss"] += loss.detach() * weight
            for name, value in out.counts.items():
                if isinstance(value, torch.Tensor):  # on device: no per-step sync
                    counts.setdefault(name, torch.zeros((), device=self.device))
                    counts[name] += value
                else:
                    counts[name] = counts.get(name, 0) + value
            images_seen += out.images
            samples_seen += weight
            if not bar.disable and step % 10 == 0:  # float(loss) syncs: only for a live bar
                rate = images_seen / (time.perf_counter() - start)
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}", img_s=f"{rate:.0f}")
        watch.check()
        seconds = time.perf_counter() - start
        names, counted = list(sums), list(counts)
        totals = all_reduce_sum(
            torch.stack(
                [
                    *sums.values(),
                    *(_as_tensor(value, self.device) for value in counts.values()),
                    torch.tensor(float(images_seen), device=self.device),
                    torch.tensor(float(samples_seen), device=self.device),
                ]
            )
        ).tolist()
        images_seen, samples_seen = totals[-2:]
        parts = {
            f"train_{k}" if k != "loss" else "train_loss": v / samples_seen
            for k, v in zip(names, totals)
        }
        summed = dict(zip(counted, totals[len(names) : -2]))
        scores, extra = task.epoch_scores(summed, max(len(self.train_loader), 1))
        return {
            "lr": lr,
            **parts,
            **scores,
            "train_seconds": seconds,
            "images_per_second": images_seen / seconds,
            **extra,
        }

    def _progress_bar(self, epoch: int) -> tqdm:
        """The epoch's training batches, behind a live bar only on a terminal: in a log file
        its carriage-return updates pile up into megabytes; there the one line per epoch
        (`_epoch_line`) is the progress."""
        live = not self.quiet and self.cfg.progress and sys.stderr.isatty()
        desc = f"epoch {epoch}/{self.cfg.epochs}"
        return tqdm(self.train_loader, desc=desc, leave=False, disable=not live, unit="batch")

    def _backward(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()

    def _optimizer_step(self) -> None:
        """SGD, the loss scaler and the per-iteration lr schedule, after `_backward`."""
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()

    def evaluate(self) -> dict[str, Any]:
        """The task's test scores of the whole test set, summed over processes."""
        return self.task.evaluate()

    def fit(self) -> dict[str, Any]:
        """Train from `start_epoch` to the end; returns the summary also saved as summary.json."""
        main = self.env.is_main
        line = self.task.before_fit(self.start_epoch == 1)
        if line is not None:
            self._say(line)
        if main:
            self.folder.mkdir(parents=True, exist_ok=True)
            remove_stale_temp_files(self.folder)  # of writes a kill interrupted
            if self.start_epoch == 1:  # a resume rewrites them only once an epoch is done
                self._write_run_files()
        log = RunLog(self.folder, resume_epoch=self.start_epoch - 1) if main else None
        self._say(self.task.header(self.folder))
        summary: dict[str, Any] = {}
        tracked = self.task.best_metrics
        try:
            for epoch in range(self.start_epoch, self.cfg.epochs + 1):
                scalars = self.task.on_epoch_start(epoch)  # logged and printed
                started = time.perf_counter()
                record: dict[str, Any] = {"epoch": epoch, **scalars, **self.train_epoch(epoch)}
                evaluated = self._evaluates(epoch)
                if evaluated:
                    record.update({f"test_{k}": v for k, v in self.evaluate().items()})
                record["seconds"] = time.perf_counter() - started
                self.seconds += record["seconds"]
                self._say(self._epoch_line(record, scalars))
                # the first evaluated epoch is best until beaten; an undefined (nan) score,
                # e.g. a mAP without a scorable class, never beats a number
                improved = evaluated and (
                    "epoch" not in self.best
                    or _ranked(record[f"test_{tracked[0]}"]) > _ranked(self.best[tracked[0]])
                )
                if improved:
                    self.best = {k: record[f"test_{k}"] for k in tracked}
                    self.best["epoch"] = epoch
                state = self.state_dict(epoch)  # collective: every process takes part
                if evaluated:
                    summary = self.task.summary(self.best, record, self.seconds)
                if main:
                    self._write_epoch(log, record, state, improved, summary if evaluated else None)
        except KeyboardInterrupt:
            self._say(f"interrupted; continue with: patchswap train --resume {self.folder}")
            raise
        finally:
            if log is not None:
                log.close()
        barrier()
        return summary or json.loads((self.folder / "summary.json").read_text())

    def _write_run_files(self) -> None:
        atomic_write_text(self.folder / "config.yaml", dump_config(self.cfg))
        self.task.run_files(self.folder)

    def _write_epoch(
        self,
        log: RunLog,
        record: dict[str, Any],
        state: dict[str, Any],
        improved: bool,
        summary: dict[str, Any] | None,
    ) -> None:
        """An epoch's files, last.pt last; a failed write (disk full) stops with one line and
        leaves the previous last.pt, so the run resumes from the last epoch that was saved."""
        try:
            if record["epoch"] == self.start_epoch > 1:
                self._write_run_files()
            log.write(record)
            if improved:
                save_checkpoint(best_checkpoint(state, record), self.folder / "best.pt")
            save_checkpoint(state, self.folder / "last.pt")
            if summary is not None:
                text = json.dumps(summary, indent=2) + "\n"
                atomic_write_text(self.folder / "summary.json", text)
        except (WriteError, OSError) as err:
            reason = str(err) if isinstance(err, WriteError) else f"{err.strerror}: {err.filename}"
            raise PatchswapError(
                f"epoch {record['epoch']} could not be saved ({reason}); once fixed, continue "
                f"with: patchswap train --resume {self.folder}"
            ) from None

    def _evaluates(self, epoch: int) -> bool:
        """Whether `epoch` is evaluated: every `eval_every`-th epoch and always the last."""
        return epoch % self.cfg.eval_every == 0 or epoch == self.cfg.epochs

    def _epoch_line(self, r: dict[str, Any], method_scalars: dict[str, float]) -> str:
        scalars = "".join(f" | {name} {value:.2f}" for name, value in method_scalars.items())
        test = self.task.test_text(r) if self._evaluates(r["epoch"]) else "test not evaluated"
        return (
            f"epoch {r['epoch']:>3}/{self.cfg.epochs} | loss {r['train_loss']:.4f} | "
            f"{test} | lr {r['lr']:.4g}{scalars} | {r['seconds']:.1f}s "
            f"({r['images_per_second']:.0f} img/s)"
        )


class ClassificationTask(Task):
    """Image classification with a `patchswap.methods` method: the default task of `Trainer`.

    The method turns a batch into named losses and its own trainable parts (auxiliary heads,
    embeddings) train with the model; the test pass is a plain forward (top-1, top-5, loss).
    """

    best_metrics = TASK_SCORES["classification"].tracked
    cfg: RunConfig

    def build(self, env: DistEnv, device: torch.device) -> None:
        cfg = self.cfg
        self.env, self.device = env, device
        self.data = build_datasets(cfg.data)
        self.model = build_model(
            cfg.model.name, self.data.num_classes, self.data.in_channels, **cfg.model.kwargs
        )
        if env.enabled and cfg.distributed.sync_bn:
            self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        self.memory_format = memory_format(cfg.channels_last, device, self.model)
        self.model.to(device, memory_format=self.memory_format)
        context = MethodContext(
            num_classes=self.data.num_classes,
            epochs=cfg.epochs,
            image_size=self.data.image_size,
            in_channels=self.data.in_channels,
            num_samples=len(self.data.train),
            train_labels=self.data.train_labels,
        )
        self.method = build_method(cfg.method, self.model, context).to(device)
        # What the method calls: the model, wrapped for DDP and/or compiled. Checkpoints and
        # feature hooks use the plain `self.model`.
        self.forward_model = distributed_model(self.model, env, device)
        if cfg.compile:
            self.forward_model = torch.compile(self.forward_model)

        self.train_loader, self.test_loader, self.loader_kind = build_loaders(
            cfg,
            self.data,
            self.method.paired,
            self.method.views,
            env,
            device,
            self.method.matched,
        )
        self.method_params = [p for p in self.method.parameters() if p.requires_grad]

    def parameter_groups(self, lr: float) -> list[dict[str, Any]]:
        """One group at `lr`: the model and the method's trainable parameters; frozen ones
        (a teacher) stay out of the optimizer."""
        return [{"params": list(self.model.parameters()) + self.method_params}]

    def stateful_parts(self) -> dict[str, Any]:
        return {"method": self.method}

    def run_files(self, folder: Path) -> None:
        write_label_noise(self.data, folder)  # which labels were flipped, if any

    def header(self, folder: Path) -> str:
        n_params = sum(p.numel() for p in self.model.parameters())
        cfg, world = self.cfg, self.env.world_size
        return (
            f"patchswap: {cfg.method['name']} | {cfg.model.name} ({n_params / 1e6:.2f}M params) | "
            f"{cfg.data.name}: {len(self.data.train)} train, {len(self.data.test)} test | "
            f"{self.device}, {world} process(es), {self.loader_kind} data, "
            f"{cfg.precision} | {folder}\n"
            f"global batch {cfg.batch_size} anchors = {world} x "
            f"{cfg.batch_size // world}; lr {effective_lr(cfg):.4g} "
            f"(optim.lr {cfg.optim.lr:g} for {cfg.optim.base_batch_size} anchors, "
            f"lr_scaling {cfg.optim.lr_scaling})"
        )

    def on_epoch_start(self, epoch: int) -> dict[str, float]:
        """The method's scalars, e.g. its p_r."""
        return self.method.on_epoch_start(epoch)

    def start_train_epoch(self) -> None:
        self.model.train()
        self.method.train()
        # log_analysis: Figure 4/5 statistics, summed per step by `after_backward`
        self.analysis: dict[str, float] = defaultdict(float)
        self.conv_gradients: dict[str, float] = defaultdict(float)

    def train_step(self, batch: Any) -> TaskStep:
        """The method's losses on a batch of anchors; counts its top-1 hits."""
        images, targets, indices = batch
        images = images.to(self.device, non_blocking=True)
        if images.dim() == 4:
            images = images.contiguous(memory_format=self.memory_format)
        targets = targets.to(self.device, non_blocking=True)
        out = self.method(self.forward_model, Batch(images, targets, indices))
        hits = topk_hits(out.logits.detach(), out.targets, (1,))[0]
        return TaskStep(
            out.losses,
            images=len(images),
            weight=out.weight,
            counts={"correct": hits, "rows": len(out.targets)},
            detail=out,
        )

    def after_backward(self, step: TaskStep) -> None:
        if self.env.enabled:  # DDP averages the model's gradients; average the method's too
            average_gradients(self.method_params)
        if self.cfg.log_analysis:
            self._accumulate_analysis(step.detail)

    def _accumulate_analysis(self, out: StepOutput) -> None:
        """Add this step's Figure 4/5 statistics (this process's; grads are DDP-averaged)."""
        for name, value in conv_gradient_magnitudes(self.model).items():
            self.conv_gradients[name] += value
        if out.pairs is not None:
            for name, value in pair_statistics(*out.pairs).items():
                self.analysis[name] += value

    def epoch_scores(
        self, counts: dict[str, float], steps: int
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Train top-1; the analysis statistics as means over this process's steps."""
        extra: dict[str, Any] = {k: v / steps for k, v in self.analysis.items()}
        if self.conv_gradients:
            extra["conv_gradients"] = {k: v / steps for k, v in self.conv_gradients.items()}
        return {"train_top1": 100.0 * counts["correct"] / counts["rows"]}, extra

    def evaluate(self) -> dict[str, float]:
        """Test metrics of the plain model, each process on its shard, summed over processes."""
        broadcast_buffers(self.model)
        with autocast(self.cfg.precision, self.device):
            shard = evaluate(self.model, self.test_loader, self.device, self.memory_format)
        n = shard["samples"]
        sums = torch.tensor(
            [shard["top1"] * n / 100, shard["top5"] * n / 100, shard["loss"] * n, n],
            dtype=torch.float64,
            device=self.device,
        )
        top1, top5, loss, n = all_reduce_sum(sums).tolist()
        return {"top1": 100.0 * round(top1) / n, "top5": 100.0 * round(top5) / n, "loss": loss / n}

    def test_text(self, record: dict[str, Any]) -> str:
        return f"test top1 {record['test_top1']:6.2f} top5 {record['test_top5']:6.2f}"

    def summary(self, best: dict[str, Any], last: dict[str, Any], seconds: float) -> dict[str, Any]:
        return run_summary(self.cfg, best, last, seconds)


def _as_tensor(value: torch.Tensor | int, device: torch.device) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.float()
    return torch.tensor(float(value), device=device)


def _ranked(score: float) -> float:
    return -math.inf if math.isnan(score) else score


def run_summary(
    cfg: RunConfig, best: dict[str, Any], last: dict[str, Any], seconds: float
) -> dict[str, Any]:
    """What `summary.json` holds: best and last top-1/top-5 of a run and its wall time."""
    return {
        "method": cfg.method["name"],
        "model": cfg.model.name,
        "dataset": cfg.data.name,
        "seed": cfg.seed,
        "epochs_done": last["epoch"],
        "epochs": cfg.epochs,
        "best_top1": best["top1"],
        "best_top5": best["top5"],
        "best_epoch": best["epoch"],
        "last_top1": last["test_top1"],
        "last_top5": last["test_top5"],
        "seconds": seconds,
    }
