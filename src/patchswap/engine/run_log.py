"""Per-epoch metrics: one JSON line per epoch in `metrics.jsonl` plus TensorBoard scalars."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch.utils.tensorboard import SummaryWriter


class RunLog:
    """Appends epoch records; on resume, drops records past the resumed epoch first.

    Nothing is touched before the first `write`, so a run (or a resume) that fails before its
    first new epoch leaves the folder's logs as they were.
    """

    def __init__(self, folder: Path, resume_epoch: int = 0) -> None:
        self.folder = folder
        self.path = folder / "metrics.jsonl"
        self.resume_epoch = resume_epoch
        self.writer: SummaryWriter | None = None

    def _open(self) -> SummaryWriter:
        if self.resume_epoch and self.path.exists():
            kept = [
                line
                for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line)["epoch"] <= self.resume_epoch
            ]
            self.path.write_text("".join(f"{line}\n" for line in kept))
        elif self.path.exists():
            self.path.unlink()
        return SummaryWriter(
            log_dir=str(self.folder / "tensorboard"), purge_step=self.resume_epoch + 1
        )

    def write(self, record: dict[str, Any]) -> None:
        if self.writer is None:
            self.writer = self._open()
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        for key, value in record.items():
            if key != "epoch" and isinstance(value, (int, float)):
                self.writer.add_scalar(key, value, record["epoch"])
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def read_metrics(folder: str | Path) -> list[dict[str, Any]]:
    """The epoch records of a run folder."""
    path = Path(folder) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
