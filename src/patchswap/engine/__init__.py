"""Training engine: the loop, checkpoints, logging and reproducibility."""

from .trainer import Trainer, resolve_device, run_folder, train

__all__ = ["Trainer", "resolve_device", "run_folder", "train"]
