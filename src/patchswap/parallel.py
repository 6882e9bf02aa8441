"""The cells of a grid (`compare`, `study`) run by up to `jobs` processes at once.

Each cell is claimed with an exclusive `flock` on a file in its folder (`.claim`, which also
names the host and process holding it), so two invocations, or two machines sharing a file
system (NFS emulates `flock` with POSIX locks), never train the same cell: a cell claimed by
a live process is waited for and then read back. The kernel releases the lock when its
process dies, however it dies, so a killed run's cell is claimed by the next invocation and
resumes from its `last.pt` as any interrupted cell does (no stale-lock guessing by pid).
With `jobs > 1` each worker process gets `cores // jobs` CPU threads and, given `gpus`, a GPU
of its own (`CUDA_VISIBLE_DEVICES`; with `gpus` even one job runs in a worker, so the device
is set before CUDA starts).
Results come back in cell order, so tables do not depend on which cell finished first.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import multiprocessing
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

CLAIM = ".claim"
POLL_SECONDS = 2.0


@dataclass(frozen=True)
class Workers:
    """How many cells run at once, and on which GPUs."""

    jobs: int = 1
    gpus: tuple[int, ...] = ()

    def check(self) -> None:
        """One line for bad values, before anything trains."""
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1:
            raise ConfigError(f"--jobs {self.jobs!r} must be a whole number >= 1")
        if not self.gpus:
            return
        import torch

        count = torch.cuda.device_count()
        missing = [g for g in self.gpus if not 0 <= g < count]
        if missing:
            raise ConfigError(
                f"--gpus names GPU {missing[0]}, but this machine has "
                f"{count or 'no'} CUDA device{'s' if count != 1 else ''}"
                + (f" (0-{count - 1})" if count else "; leave --gpus out on CPU")
            )
        if len(self.gpus) < self.jobs:
            raise ConfigError(
                f"--jobs {self.jobs} with --gpus {','.join(map(str, self.gpus))}: give each "
                "cell a GPU (as many GPUs as jobs) or lower --jobs"
            )

    def threads(self) -> int:
        """CPU threads per cell: the cores divided between the cells."""
        return max(1, (os.cpu_count() or 1) // self.jobs)


def parse_gpus(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"--gpus {text!r} must list GPU indices, e.g. 0,1,2") from None


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


def _init_worker(threads: int, gpus: Any) -> None:
    import torch

    torch.set_num_threads(threads)
    if gpus is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpus.get())


def _call(task: Callable[[Any], Any], item: Any, folder: Path) -> Any:
    with claimed(folder):
        return task(item)


def run_all(
    items: Sequence[Any],
    folders: Sequence[Path],
    task: Callable[[Any], Any],
    workers: Workers,
    done: Callable[[int, Any], None] = lambda index, result: None,
) -> list[Any]:
    """`task(item)` for every item under its folder's claim, `workers.jobs` at a time; returns
    the results in item order, calling `done(index, result)` as each finishes. `task` must be
    a module-level function when `jobs > 1` (it runs in a spawned process)."""
    workers.check()
    if workers.jobs == 1 and not workers.gpus:  # in this process (with --gpus: one worker)
        results = []
        for index, (item, folder) in enumerate(zip(items, folders)):
            results.append(_call(task, item, folder))
            done(index, results[-1])
        return results
    context = multiprocessing.get_context("spawn")  # no forked torch or CUDA state
    gpus = None
    if workers.gpus:
        gpus = context.Manager().Queue()
        for gpu in workers.gpus[: workers.jobs]:
            gpus.put(gpu)
    results: list[Any] = [None] * len(items)
    with ProcessPoolExecutor(
        workers.jobs, mp_context=context, initializer=_init_worker,
        initargs=(workers.threads(), gpus),
    ) as pool:  # fmt: skip
        futures = {
            pool.submit(_call, task, item, folder): index
            for index, (item, folder) in enumerate(zip(items, folders))
        }
        for future in as_completed(futures):
            index = futures[future]
            results[index] = future.result()
            done(index, results[index])
    return results
