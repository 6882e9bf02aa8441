"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

from collections.abc import Callable

import torch


def device_label(device: torch.device) -> str:
    """The device as a reader of the benchmark table needs it named."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def synchronizer(device: torch.device) -> Callable[[], None]:
    """Waits for queued device work, so wall-clock timings cover it."""
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
