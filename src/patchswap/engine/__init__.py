"""Training engine: the loop, checkpoints, logging and reproducibility."""

from .device import resolve_device
from .trainer import Trainer, run_folder, train

__all__ = ["Trainer", "resolve_device", "run_folder", "train"]
