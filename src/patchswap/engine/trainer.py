"""The training loop shared by every method.

A method turns a batch into named losses (`patchswap.methods`); the trainer sums them,
steps SGD and the per-iteration lr schedule, evaluates with a plain forward pass, logs each
epoch and writes atomic `last.pt` / `best.pt` checkpoints that resume bit-for-bit on CPU.
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
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..checkpoint import (
    CHECKPOINT_FORMAT,
    best_checkpoint,
    load_checkpoint,
    load_model_weights,
    save_checkpoint,
    saved_config,
)
from ..config import RunConfig, dump_config
from ..data import build_datasets
from ..data.label_noise import write_label_noise
from ..errors import CheckpointError, PatchswapError
from ..methods import Batch, MethodContext, StepOutput, build_method
from ..models import build_model
from ..outputs import (
    WriteError,
    atomic_write_text,
    check_writable_folder,
    remove_stale_temp_files,
)
from ..scores import TASK_SCORES
from .accuracy import evaluate, topk_hits
from .device import resolve_device
from .distributed import (
    all_gather_objects,
    all_reduce_sum,
    average_gradients,
    barrier,
    broadcast_buffers,
    init_distributed,
)
from .loaders import build_loaders
from .optim import build_lr_scheduler, build_optimizer
from .precision import autocast, grad_scaler, memory_format
from .reproducibility import rng_state, seed_everything, set_deterministic, set_rng_state
from .run_log import RunLog
from .step_stats import conv_gradient_magnitudes, pair_statistics

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
    """Builds everything a `RunConfig` describes; `fit()` trains and returns the summary.

    Under `torchrun` each process trains on its shard of every global batch with
    DistributedDataParallel; metrics are summed over processes and only rank 0 writes.
    """

    # The test metrics that pick `best.pt` (the first one decides) and that `best` records.
    best_metrics: tuple[str, ...] = TASK_SCORES["classification"].tracked

    def __init__(self, cfg: RunConfig, *, quiet: bool = False) -> None:
        self.cfg = cfg
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
        self.build()
        self.optimizer = build_optimizer(cfg.optim, self.parameter_groups(), effective_lr(cfg))
        self.scheduler = build_lr_scheduler(
            cfg.schedule, self.optimizer, cfg.epochs, len(self.train_loader)
        )
        self.scaler = grad_scaler(cfg.precision, self.device)
        self.folder = run_folder(cfg)
        self.start_epoch = 1
        self.best: dict[str, Any] = {self.best_metrics[0]: -math.inf}
        self.seconds = 0.0
        # Names this run in its checkpoints, so a resume never writes into another run's folder.
        self.run_id = uuid.uuid4().hex

    def build(self) -> None:
        """Data, model, method and loaders (`model`, `forward_model`, `method_params`,
        `train_loader`, `test_loader`, `loader_kind`); a task's trainer builds its own."""
        cfg = self.cfg
        self.data = build_datasets(cfg.data)
        self.model = build_model(
            cfg.model.name, self.data.num_classes, self.data.in_channels, **cfg.model.kwargs
        )
        if self.env.enabled and cfg.distributed.sync_bn:
            self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        self.memory_format = memory_format(cfg.channels_last, self.device, self.model)
        self.model.to(self.device, memory_format=self.memory_format)
        context = MethodContext(
            num_classes=self.data.num_classes,
            epochs=cfg.epochs,
            image_size=self.data.image_size,
            in_channels=self.data.in_channels,
            num_samples=len(self.data.train),
            train_labels=self.data.train_labels,
        )
        self.method = build_method(cfg.method, self.model, context).to(self.device)
        # What the method calls: the model, wrapped for DDP and/or compiled. Checkpoints and
        # feature hooks use the plain `self.model`.
        self.forward_model = self.model
        if self.env.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.forward_model = DistributedDataParallel(self.model, device_ids=ids)
        if cfg.compile:
            self.forward_model = torch.compile(self.forward_model)

        self.train_loader, self.test_loader, self.loader_kind = build_loaders(
            cfg,
            self.data,
            self.method.paired,
            self.method.views,
            self.env,
            self.device,
            self.method.matched,
        )
        self.method_params = [p for p in self.method.parameters() if p.requires_grad]

    def parameter_groups(self) -> list[dict[str, Any]]:
        """What SGD trains, as torch parameter groups (a group may set its own `lr`).

        A method's own trainable parameters (auxiliary heads, embeddings) train with the model;
        frozen ones (a teacher) stay out of the optimizer.
        """
        return [{"params": list(self.model.parameters()) + self.method_params}]

    def stateful_parts(self) -> dict[str, Any]:
        """What a checkpoint saves besides the model, by key (each has `state_dict`)."""
        return {"method": self.method, "optimizer": self.optimizer, "scheduler": self.scheduler}

    def on_epoch_start(self, epoch: int) -> dict[str, float]:
        """Scalars to log and print for this epoch (the method's, e.g. its p_r)."""
        return self.method.on_epoch_start(epoch)

    # ---------------------------------------------------------------- checkpoints

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

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the anchors; returns the epoch's mean loss parts and train accuracy."""
        self.model.train()
        self.method.train()
        self.train_loader.batch_sampler.set_epoch(epoch)
        sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), device=self.device))
        correct = torch.zeros((), device=self.device)  # on device: no per-step sync
        # images: throughput; samples: the losses' weights (StepOutput.weight); rows: accuracy
        images_seen = samples_seen = rows_seen = 0
        analysis: dict[str, float] = defaultdict(float)  # log_analysis: summed per step
        conv_gradients: dict[str, float] = defaultdict(float)
        lr = self.optimizer.param_groups[0]["lr"]
        watch = LossWatch(self.device, epoch, lr)
        bar = self._progress_bar(epoch)
        start = time.perf_counter()
        for step, (images, targets, indices) in enumerate(bar):
            images = images.to(self.device, non_blocking=True)
            if images.dim() == 4:
                images = images.contiguous(memory_format=self.memory_format)
            targets = targets.to(self.device, non_blocking=True)
            with autocast(self.cfg.precision, self.device):
                out = self.method(self.forward_model, Batch(images, targets, indices))
            loss = sum(out.losses.values())
            watch.see(loss, step)
            self._backward(loss)
            if self.env.enabled:  # DDP averages the model's gradients; average the method's too
                average_gradients(self.method_params)
            if self.cfg.log_analysis:
                self._accumulate_analysis(out, analysis, conv_gradients)
            self._optimizer_step()

            weight = out.weight
            for name, value in out.losses.items():
                sums[name] += value.detach() * weight
            sums["loss"] += loss.detach() * weight
            correct += topk_hits(out.logits.detach(), out.targets, (1,))[0]
            images_seen += len(images)
            samples_seen += weight
            rows_seen += len(out.targets)
            if not bar.disable and step % 10 == 0:  # float(loss) syncs: only for a live bar
                rate = images_seen / (time.perf_counter() - start)
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}", img_s=f"{rate:.0f}")
        watch.check()
        seconds = time.perf_counter() - start
        names = list(sums)
        totals = all_reduce_sum(
            torch.stack(
                [
                    *sums.values(),
                    correct.float(),
                    torch.tensor(float(images_seen), device=self.device),
                    torch.tensor(float(samples_seen), device=self.device),
                    torch.tensor(float(rows_seen), device=self.device),
                ]
            )
        ).tolist()
        correct, images_seen, samples_seen, rows_seen = totals[-4:]
        parts = {
            f"train_{k}" if k != "loss" else "train_loss": v / samples_seen
            for k, v in zip(names, totals)
        }
        steps = max(len(self.train_loader), 1)
        extra = {k: v / steps for k, v in analysis.items()}
        if conv_gradients:
            extra["conv_gradients"] = {k: v / steps for k, v in conv_gradients.items()}
        return {
            "lr": lr,
            **parts,
            "train_top1": 100.0 * correct / rows_seen,
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

    def _accumulate_analysis(
        self, out: StepOutput, analysis: dict[str, float], conv_gradients: dict[str, float]
    ) -> None:
        """Add this step's Figure 4/5 statistics (this process's; grads are DDP-averaged)."""
        for name, value in conv_gradient_magnitudes(self.model).items():
            conv_gradients[name] += value
        if out.pairs is not None:
            for name, value in pair_statistics(*out.pairs).items():
                analysis[name] += value

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

    def fit(self) -> dict[str, Any]:
        """Train from `start_epoch` to the end; returns the summary also saved as summary.json."""
        main = self.env.is_main
        if main:
            self.folder.mkdir(parents=True, exist_ok=True)
            remove_stale_temp_files(self.folder)  # of writes a kill interrupted
            if self.start_epoch == 1:  # a resume rewrites them only once an epoch is done
                self._write_run_files()
        log = RunLog(self.folder, resume_epoch=self.start_epoch - 1) if main else None
        self._say(self.header())
        summary: dict[str, Any] = {}
        primary = self.best_metrics[0]
        try:
            for epoch in range(self.start_epoch, self.cfg.epochs + 1):
                scalars = self.on_epoch_start(epoch)  # logged and printed
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
                    or _ranked(record[f"test_{primary}"]) > _ranked(self.best[primary])
                )
                if improved:
                    self.best = {k: record[f"test_{k}"] for k in self.best_metrics}
                    self.best["epoch"] = epoch
                state = self.state_dict(epoch)  # collective: every process takes part
                summary = self._summary(record) if evaluated else summary
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

    def header(self) -> str:
        """The lines printed before the first epoch: what trains, on what, where."""
        n_params = sum(p.numel() for p in self.model.parameters())
        cfg = self.cfg
        return (
            f"patchswap: {cfg.method['name']} | {cfg.model.name} ({n_params / 1e6:.2f}M params) | "
            f"{cfg.data.name}: {len(self.data.train)} train, {len(self.data.test)} test | "
            f"{self.device}, {self.env.world_size} process(es), {self.loader_kind} data, "
            f"{cfg.precision} | {self.folder}\n"
            f"global batch {cfg.batch_size} anchors = {self.env.world_size} x "
            f"{cfg.batch_size // self.env.world_size}; lr {effective_lr(cfg):.4g} "
            f"(optim.lr {cfg.optim.lr:g} for {cfg.optim.base_batch_size} anchors, "
            f"lr_scaling {cfg.optim.lr_scaling})"
        )

    def _write_run_files(self) -> None:
        atomic_write_text(self.folder / "config.yaml", dump_config(self.cfg))
        write_label_noise(self.data, self.folder)  # which labels were flipped, if any

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
        test = self._test_text(r) if self._evaluates(r["epoch"]) else "test not evaluated"
        return (
            f"epoch {r['epoch']:>3}/{self.cfg.epochs} | loss {r['train_loss']:.4f} | "
            f"{test} | lr {r['lr']:.4g}{scalars} | {r['seconds']:.1f}s "
            f"({r['images_per_second']:.0f} img/s)"
        )

    def _test_text(self, r: dict[str, Any]) -> str:
        """An evaluated epoch's test scores, as the epoch line prints them."""
        return f"test top1 {r['test_top1']:6.2f} top5 {r['test_top5']:6.2f}"

    def _summary(self, last: dict[str, Any]) -> dict[str, Any]:
        return run_summary(self.cfg, self.best, last, self.seconds)


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


def train(
    cfg: RunConfig,
    *,
    resume: str | Path | None = None,
    overrides: list[str] = (),
    quiet: bool = False,
) -> dict[str, Any]:
    """Train `cfg`, or continue the run saved at `resume` (a run folder or its last.pt).

    When resuming, the run's own resolved config is used, with `overrides` applied on top
    (e.g. `epochs=300` to extend it); `cfg` is ignored. A resumed run writes into the folder
    it was resumed from, wherever that folder has moved since.
    """
    if resume is not None:
        return _resume(Path(resume), list(overrides), quiet)
    folder = run_folder(cfg)
    held = [name for name in RUN_FILES if (folder / name).exists()]
    if held:
        raise PatchswapError(
            f"run folder {str(folder)!r} already holds a run; continue it with --resume "
            f"{folder}, or choose another folder with --set name=NEW (it has {held[0]})"
        )
    check_writable_folder(folder, "output_dir")
    return trainer_class(cfg)(cfg, quiet=quiet).fit()


def trainer_class(cfg: Any) -> type[Trainer]:
    """The trainer of a config's task: classification here, the dense tasks' in `dense`."""
    if getattr(cfg, "task", "classification") == "classification":
        return Trainer
    from ..dense.trainer import DenseTrainer  # dense builds on this module

    return DenseTrainer


# The files of a run folder that a new run would overwrite.
RUN_FILES = ("last.pt", "best.pt", "summary.json", "metrics.jsonl")


def _resume(path: Path, overrides: list[str], quiet: bool) -> dict[str, Any]:
    """Continue the run saved at `path` in its own folder (see `train`)."""
    state = load_checkpoint(path, resumable=True)
    folder = path if path.is_dir() else path.parent
    folder = folder if folder.name else folder.resolve()  # `--resume .` names its folder
    _check_same_run(folder, path, state)
    moved = [text for text in overrides if text.split("=", 1)[0].strip() in ("output_dir", "name")]
    if moved:
        raise PatchswapError(
            f"--set {moved[0]} cannot move a resumed run: it continues in {folder}; copy that "
            "folder elsewhere first to continue a copy"
        )
    cfg = saved_config(state, overrides)
    cfg.output_dir, cfg.name = str(folder.parent), folder.name
    if state["epoch"] >= cfg.epochs:
        raise PatchswapError(
            f"the run at {str(path)!r} already finished its {cfg.epochs} epochs; "
            f"pass --set epochs=N with N > {state['epoch']} to train longer"
        )
    check_writable_folder(folder, "--resume")
    trainer = trainer_class(cfg)(cfg, quiet=quiet)
    trainer.restore(state, str(path))
    return trainer.fit()


def _without_epochs(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "epochs"}


def _check_same_run(folder: Path, path: Path, state: dict[str, Any]) -> None:
    """Refuse to resume a checkpoint into a folder whose own last.pt is another run's."""
    own = folder / "last.pt"
    if path.is_dir() or not own.is_file() or own.samefile(path):
        return
    theirs = load_checkpoint(own)
    if "run_id" in theirs or "run_id" in state:
        if theirs.get("run_id") == state.get("run_id"):
            return
    elif _without_epochs(theirs["config"]) == _without_epochs(state["config"]):
        return  # checkpoints from before run ids: the same config is the same run
    raise PatchswapError(
        f"{folder} holds another run (its last.pt is not {path.name}'s run); resuming "
        f"{path} there would overwrite it: move {path.name} into a folder of its own"
    )
