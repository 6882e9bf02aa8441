"""What the training loop asks of a task: the contract between `Trainer` and what it trains.

`engine.Trainer` owns a run (process set-up, seeds, SGD and the per-iteration schedule, the
epoch loop, the non-finite-loss watch, checkpoints, exact resume, metrics.jsonl/TensorBoard,
summary.json, DDP). A task owns what differs between classification and the dense tasks: its
data, model and batches, its test scores and how they read. The loop reaches a task only
through the hooks below, so a new task is one `Task` subclass and never overrides the loop
(the classification task is `engine.trainer.ClassificationTask`, the dense tasks'
`dense.trainer.DenseTask`).

Hooks, in the order a run calls them:

- set-up: `build(env, device)` (sets `data`, `model`, `train_loader`, `test_loader`,
  `loader_kind`), `parameter_groups(lr)`, `stateful_parts()`;
- before the first epoch: `before_fit(new_run)`, `run_files(folder)`, `header(folder)`;
- each epoch: `on_epoch_start(epoch)`, then `start_train_epoch()` and per batch
  `train_step(batch)` (under autocast) and `after_backward(step)`, then `epoch_scores(...)`;
- evaluation: `evaluate()`; `best_metrics[0]` picks `best.pt`;
- reporting: `test_text(record)` (the epoch line), `summary(best, last, seconds)`.

Hooks with a default here are optional.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from .distributed import DistEnv


@dataclass
class TaskStep:
    """One training step, as the loop sums it into the epoch's record.

    `losses`: the named terms; their sum is backpropagated. `images`: the images the step
    trained on (throughput). `weight`: the step's weight in the epoch's mean loss parts (the
    samples the losses average over; 1 makes the mean one over steps). `counts`: numbers the
    loop sums over the epoch and the processes for `epoch_scores` (a tensor stays on the
    device: no per-step sync). `detail`: the task's own output, handed back to
    `after_backward`.
    """

    losses: dict[str, torch.Tensor]
    images: int
    weight: int = 1
    counts: dict[str, torch.Tensor | int] = field(default_factory=dict)
    detail: Any = None


class Task:
    """A kind of model `Trainer` trains (see the module docstring for the hook order)."""

    # The test scores that pick `best.pt` (the first one decides) and that `best` records.
    best_metrics: tuple[str, ...]
    # Set by `build`: what the loop and the run's users read.
    data: Any
    model: torch.nn.Module  # the plain model: checkpoints save it
    train_loader: Any  # its `batch_sampler` has `set_epoch`
    test_loader: Any
    loader_kind: str = "dataloader"  # how batches are served, for the header

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    # ---------------------------------------------------------------- set-up

    def build(self, env: DistEnv, device: torch.device) -> None:
        """Data, model (on `device`, wrapped for DDP where `env` is) and loaders."""
        raise NotImplementedError

    def parameter_groups(self, lr: float) -> list[dict[str, Any]]:
        """What SGD trains at learning rate `lr`, as torch parameter groups."""
        raise NotImplementedError

    def stateful_parts(self) -> dict[str, Any]:
        """What a checkpoint saves of the task besides the model, by key (each has
        `state_dict`); saved before the optimizer and the schedule."""
        return {}

    def before_fit(self, new_run: bool) -> str | None:
        """Work before the first epoch of `fit` (a resumed run: `new_run` False); a line to
        print before the header, or None."""
        return None

    def run_files(self, folder: Path) -> None:
        """Write the task's files of the run folder beside config.yaml (once per start)."""

    def header(self, folder: Path) -> str:
        """The lines printed before the first epoch: what trains, on what, where."""
        raise NotImplementedError

    # ---------------------------------------------------------------- an epoch

    def on_epoch_start(self, epoch: int) -> dict[str, float]:
        """Scalars to log and print for this epoch (1-based, also after a resume)."""
        return {}

    def start_train_epoch(self) -> None:
        """Put what trains in training mode before an epoch's batches."""
        self.model.train()

    def train_step(self, batch: Any) -> TaskStep:
        """A training batch to its losses (on the device, under the run's autocast)."""
        raise NotImplementedError

    def after_backward(self, step: TaskStep) -> None:
        """Runs between the backward pass and the optimizer step (gradients are set)."""

    def epoch_scores(
        self, counts: dict[str, float], steps: int
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The epoch's training scores from `counts` (summed over steps and processes) over
        this process's `steps`: (recorded after the loss parts, recorded last)."""
        return {}, {}

    # ---------------------------------------------------------------- evaluation, reports

    def evaluate(self) -> dict[str, Any]:
        """Test scores over the whole test set (each process scores its shard)."""
        raise NotImplementedError

    def test_text(self, record: dict[str, Any]) -> str:
        """An evaluated epoch's test scores, as the epoch line prints them."""
        raise NotImplementedError

    def summary(self, best: dict[str, Any], last: dict[str, Any], seconds: float) -> dict[str, Any]:
        """What summary.json holds, from `best`, the last evaluated record and the wall time."""
        raise NotImplementedError


def distributed_model(
    model: torch.nn.Module, env: DistEnv, device: torch.device
) -> torch.nn.Module:
    """`model` as a task's forward pass calls it: wrapped for DDP under `torchrun`."""
    if not env.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)
