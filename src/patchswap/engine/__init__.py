"""Training engine: the loop, checkpoints, logging and reproducibility (`runs.train` starts
or resumes a run of any task)."""

from .device import resolve_device
from .trainer import Trainer, run_folder

__all__ = ["Trainer", "resolve_device", "run_folder"]
