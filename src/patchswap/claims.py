"""A cell's claim: an exclusive `flock` on a file in its folder (`.claim`, which also names
the host and process holding it).

Two invocations, or two machines sharing a file system (NFS emulates `flock` with POSIX
locks), never train the same cell: a cell claimed by a live process is waited for and then
read back. The kernel releases the lock when its process dies, however it dies, so a killed
run's cell is claimed by the next invocation and resumes from its `last.pt` as any
interrupted cell does (no stale-lock guessing by pid). Local workers (`parallel`) and SLURM
jobs (`slurm`) run every cell through `run_claimed`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

CLAIM = ".claim"
POLL_SECONDS = 2.0


class CellsSubmitted(Exception):
    """`wait=False`: the cells are submitted and this invocation is done; not an error (the
    CLI prints it and exits 0). Running the same command again collects the results."""

    def __init__(self, submitted: int, queued: int, logs: Path) -> None:
        self.submitted, self.queued, self.logs = submitted, queued, logs
        earlier = f" ({queued} submitted earlier still queued or running)" if queued else ""
        super().__init__(
            f"{submitted} cell{'s' if submitted != 1 else ''} submitted{earlier}; logs in each "
            f"cell's folder (slurm.out) and under {logs}; run the same command again to collect"
        )


@contextlib.contextmanager
def claimed(folder: Path) -> Iterator[None]:
    """Hold the cell's claim while its body runs; wait while another live process holds it.
    The claim file stays (unlinking it would let a waiter lock a file no one else sees)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / CLAIM, "a+") as claim:
        while True:
            try:
                fcntl.flock(claim, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(POLL_SECONDS)
        claim.seek(0)
        claim.truncate()
        json.dump({"host": socket.gethostname(), "pid": os.getpid()}, claim)
        claim.flush()
        try:
            yield
        finally:
            fcntl.flock(claim, fcntl.LOCK_UN)


def run_claimed(task: Callable[[Any], Any], item: Any, folder: Path) -> Any:
    """`task(item)` while holding `folder`'s claim."""
    with claimed(folder):
        return task(item)
