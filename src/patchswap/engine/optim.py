"""SGD and the per-iteration learning-rate schedule (warm-up + multistep / cosine / poly /
constant)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from ..config import OptimConfig, ScheduleConfig


def build_optimizer(cfg: OptimConfig, params: Iterable[Any], lr: float) -> torch.optim.SGD:
    """SGD at `lr` (the recipe's lr after its batch-size scaling rule) over parameters or
    parameter groups; the schedule scales every group's own lr alike."""
    return torch.optim.SGD(
        params,
        lr=lr,
        momentum=cfg.momentum,
        nesterov=cfg.nesterov,
        weight_decay=cfg.weight_decay,
        dampening=0.0,
    )


def lr_factor(
    cfg: ScheduleConfig, base_lr: float, epochs: int, step: int, steps_per_epoch: int
) -> float:
    """Multiplier of the base lr for optimizer update number `step` (0-based).

    Multistep milestones are 1-based epoch counts, as in the paper's "x0.1 at 150": epochs
    1..150 use the base lr and epoch 151 on uses 0.1x. Warm-up ramps linearly over the first
    `warmup_epochs` (the first update already gets a non-zero lr), then hands over.
    """
    position = step / steps_per_epoch  # epochs completed before this update (fractional)
    if cfg.name == "multistep":
        factor = cfg.gamma ** sum(math.floor(position) >= m for m in cfg.milestones)
    elif cfg.name == "cosine":
        progress = min(position / epochs, 1.0)
        floor = cfg.min_lr / base_lr
        factor = floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    elif cfg.name == "poly":  # DeepLab's: (1 - iteration / iterations) ** power
        factor = max(1 - step / (epochs * steps_per_epoch), 0.0) ** cfg.power
    else:
        factor = 1.0
    warmup_steps = cfg.warmup_epochs * steps_per_epoch
    if step < warmup_steps:
        factor *= (step + 1) / warmup_steps
    return factor


def build_lr_scheduler(
    cfg: ScheduleConfig, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A `LambdaLR` stepped once per iteration; its `last_epoch` counts iterations."""
    base_lr = optimizer.param_groups[0]["lr"]
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(cfg, base_lr, epochs, step, steps_per_epoch)
    )
