"""The cells of a grid (`compare`, `study`) run by up to `jobs` processes at once.

Each cell runs under its claim (`claims.run_claimed`), so two invocations, or two machines
sharing a file system, never train the same cell, and a killed run's cell is claimed by the
next invocation and resumes from its `last.pt`.
With `jobs > 1` each worker process gets `cores // jobs` CPU threads and, given `gpus`, a GPU
of its own (`CUDA_VISIBLE_DEVICES`; with `gpus` even one job runs in a worker, so the device
is set before CUDA starts).
Results come back in cell order, so tables do not depend on which cell finished first.
With `executor="slurm"` (or `"submitit-local"`) the cells are jobs submitted through submitit
instead (`slurm.run_cells`, imported only then): the same claim guards each cell there.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .claims import run_claimed
from .errors import ConfigError


@dataclass(frozen=True)
class Workers:
    """How many cells run at once, and on which GPUs; or which scheduler runs them.

    `executor`: `local` (processes here), `slurm` (a SLURM job per cell, through submitit) or
    `submitit-local` (submitit's local executor: the job path, without a cluster). `settings`:
    the executor's (`slurm.KEYS`: partition, time, gpus_per_cell, ...). `wait=False` submits
    and raises `CellsSubmitted` instead of waiting for the jobs. `cell_threads`: CPU threads
    of every cell (None: the cores divided between the jobs; one job keeps torch's default).
    A cell's floats depend on its thread count, so a grid gives the same tables with any
    `jobs` only at the same `cell_threads`.
    """

    jobs: int = 1
    gpus: tuple[int, ...] = ()
    executor: str = "local"
    settings: Mapping[str, Any] = field(default_factory=dict)
    wait: bool = True
    cell_threads: int | None = None

    def check(self) -> None:
        """One line for bad values, before anything trains or is submitted."""
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1:
            raise ConfigError(f"--jobs {self.jobs!r} must be a whole number >= 1")
        threads = self.cell_threads
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                    or threads < 1):  # fmt: skip
            raise ConfigError(f"--threads {threads!r} must be a whole number >= 1")
        if threads is not None and self.executor != "local":
            raise ConfigError("--threads applies to --executor local; with SLURM set cpus_per_cell")
        if self.executor != "local" or self.settings or not self.wait:
            from .slurm import check_executor

            check_executor(self.executor, self.settings, self.wait, self.jobs, self.gpus)
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
        """CPU threads per cell: `cell_threads`, else the cores divided between the cells."""
        return self.cell_threads or max(1, (os.cpu_count() or 1) // self.jobs)


def parse_gpus(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"--gpus {text!r} must list GPU indices, e.g. 0,1,2") from None


def _init_worker(threads: int, gpus: Any, parent: int) -> None:
    import torch

    torch.set_num_threads(threads)
    if gpus is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpus.get())
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int, every: float = 0.5) -> None:
    """End this worker when the invocation that started it is gone (killed, not interrupted:
    a killed parent leaves its pool's workers training, holding their cells' claims). The
    worker's cell keeps its last.pt and its claim is freed with the process, so the next
    invocation resumes it. Polled, not PR_SET_PDEATHSIG: that is Linux-only."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)


def run_all(
    items: Sequence[Any],
    folders: Sequence[Path],
    task: Callable[[Any], Any],
    workers: Workers,
    done: Callable[[int, Any], None] = lambda index, result: None,
) -> list[Any]:
    """`task(item)` for every item under its folder's claim, `workers.jobs` at a time; returns
    the results in item order, calling `done(index, result)` as each finishes. `task` must be
    a module-level function when `jobs > 1` (it runs in a spawned process) or an executor
    runs the cells (it is pickled into each job)."""
    workers.check()
    if workers.executor != "local":
        from .slurm import run_cells

        return run_cells(
            items, folders, task, workers.executor, workers.settings, workers.wait, done
        )
    if workers.jobs == 1 and not workers.gpus:  # in this process (with --gpus: one worker)
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(workers.cell_threads or before)
        try:
            results = []
            for index, (item, folder) in enumerate(zip(items, folders)):
                results.append(run_claimed(task, item, folder))
                done(index, results[-1])
        finally:
            torch.set_num_threads(before)
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
        initargs=(workers.threads(), gpus, os.getpid()),
    ) as pool:  # fmt: skip
        futures = {
            pool.submit(run_claimed, task, item, folder): index
            for index, (item, folder) in enumerate(zip(items, folders))
        }
        for future in as_completed(futures):
            index = futures[future]
            results[index] = future.result()
            done(index, results[index])
    return results
