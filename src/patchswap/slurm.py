"""The cells of a grid as SLURM jobs, through submitit (`pip install patchswap[slurm]`).

`run_cells` submits the cells that have no result yet as one job array (`executor.batch()`,
at most `array_parallelism` running at once), then polls: results come back in cell order and
`done(index, result)` hears of each as it finishes. A job runs the same `claims.run_claimed` as a
local worker, so the cell's `flock` claim still guards it against any other invocation; a job
pre-empted or timed out is requeued by submitit (`_Cell.checkpoint` resubmits the same call)
and the cell resumes from its `last.pt`.

Logs: submitit writes each job's files (`<job>_0_log.out`, `_log.err`, the pickled call and
result) under `<grid>/.submitit/<job>/`, one folder per array task. submitit cannot point an
array's tasks at folders of our choosing (its folder pattern knows only the job and task ids),
and one job per cell would lose the array's throttle, so each cell's folder gets `slurm.out`
and `slurm.err`, links to its job's logs, and `slurm-job.json`, which job holds the cell.

That record is how a later invocation collects: a cell whose job is still queued or running
is waited for, not submitted again; a finished job's result is read back from its pickle when
it was submitted for the same work (the record holds a fingerprint of the call); anything
else (no record, a failed or cancelled job, other work) is submitted afresh. With
`wait=False` the submission raises `claims.CellsSubmitted` instead of waiting.

Job states come from `squeue` (so a cluster without accounting, where `sacct` fails, works);
a job that has left the queue without a result is a failed cell (`CellFailed`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .claims import CellsSubmitted, run_claimed
from .errors import ConfigError
from .infra.atomic_files import atomic_write_text

EXECUTORS = ("local", "slurm", "submitit-local")
KEYS = (
    "partition", "time", "gpus_per_cell", "cpus_per_cell", "account", "sbatch",
    "array_parallelism",
)  # fmt: skip
RECORD = "slurm-job.json"
SUBMITIT_FOLDER = ".submitit"
POLL_SECONDS = 5.0
GONE_GRACE_SECONDS = 30.0  # a job out of the queue may still be writing its result (NFS)
REQUEUES = 20  # timeouts a cell may be requeued after (pre-emptions do not count)
DEFAULT_MINUTES = 60
LIVE_STATES = {
    "PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_FED",
    "REQUEUE_HOLD", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED",
}  # fmt: skip


class CellFailed(RuntimeError):
    """A cell's job ended without a result: its exception, or the scheduler's reason."""


def require_submitit(executor: str) -> None:
    """One line naming the extra, before anything is submitted."""
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"--executor {executor} needs submitit, which is not installed; "
            "pip install patchswap[slurm]"
        ) from None


def check_settings(settings: object, where: str = "--executor-config") -> dict[str, Any]:
    """The executor settings (an `executor:` block or `--executor-config` file), checked key by
    key: one line for the first bad one."""
    if not isinstance(settings, Mapping):
        raise ConfigError(f"{where} must be a mapping with keys {', '.join(KEYS)}")
    unknown = sorted(set(settings) - set(KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid: {', '.join(KEYS)}")
    checked = dict(settings)
    for key in ("partition", "account"):
        if key in checked and (not isinstance(checked[key], str) or not checked[key]):
            raise ConfigError(f"{where}: {key}={checked[key]!r} must be a name")
    for key, least in (("time", 1), ("gpus_per_cell", 0), ("cpus_per_cell", 1)):
        if key in checked:
            _whole(checked[key], least, f"{where}: {key}")
    if "array_parallelism" in checked:
        _whole(checked["array_parallelism"], 1, f"{where}: array_parallelism")
    if checked.get("gpus_per_cell", 0) > 1:
        raise ConfigError(
            f"{where}: gpus_per_cell={checked['gpus_per_cell']} but a cell trains in one "
            "process on one GPU; use gpus_per_cell: 1 and more cells at once"
        )
    sbatch = checked.get("sbatch", {})
    if not isinstance(sbatch, Mapping) or not all(
        isinstance(k, str) and isinstance(v, (str, int, float, bool)) for k, v in sbatch.items()
    ):
        raise ConfigError(
            f"{where}: sbatch must map sbatch options to values, e.g. {{qos: high, "
            "constraint: a100}}"
        )
    return checked


def _whole(value: object, least: int, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigError(f"{where}={value!r} must be a whole number >= {least}")


def load_settings(path: str | Path) -> dict[str, Any]:
    """An `--executor-config` YAML file (read with `yaml.safe_load`: it runs no code)."""
    import yaml

    path = Path(path)
    where = f"--executor-config {path}"
    if not path.is_file():
        raise ConfigError(f"{where} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{where} is not valid YAML: {str(err).splitlines()[0]}") from None
    return check_settings(raw if raw is not None else {}, where)


def check_executor(
    executor: str,
    settings: Mapping[str, Any],
    wait: bool = True,
    jobs: int = 1,
    gpus: Sequence[int] = (),
) -> None:
    """Everything about the executor that can be checked before a job is submitted."""
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor {executor!r} is unknown; valid: {', '.join(EXECUTORS)}")
    if executor != "local" and gpus:
        raise ConfigError(
            f"--gpus applies to --executor local; with --executor {executor} set gpus_per_cell "
            "in --executor-config (each job gets GPUs of its own)"
        )
    if executor != "local" and jobs != 1:
        raise ConfigError(
            f"--jobs {jobs} applies to --executor local; with --executor {executor} set "
            "array_parallelism in --executor-config (cells running at once)"
        )
    check_settings(settings)
    if executor == "local":
        if settings:
            raise ConfigError(
                "--executor-config (or a plan's executor: block) applies to --executor slurm; "
                "add --executor slurm or drop it"
            )
        if not wait:
            raise ConfigError("--no-wait applies to --executor slurm; local cells run here")
        return
    require_submitit(executor)
    if executor == "submitit-local":
        if not wait:
            raise ConfigError("--no-wait needs --executor slurm: submitit-local jobs end with us")
        return
    if "partition" not in settings:
        raise ConfigError(
            "--executor slurm needs a partition: put `partition: NAME` in --executor-config "
            "or the plan's executor: block (see `sinfo`)"
        )
    if shutil.which("sbatch") is None:
        raise ConfigError(
            "--executor slurm: no `sbatch` on PATH; submit from a SLURM login node "
            "(or use --jobs N here)"
        )


class _Cell:
    """The job's callable: `claims.run_claimed` with the cell's CPU threads set. Has
    `checkpoint`, so submitit requeues it (same call) when the job is pre-empted or times out."""

    def __call__(self, task: Callable[[Any], Any], item: Any, folder: Path, threads: int) -> Any:
        import torch

        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)
        return run_claimed(task, item, folder)

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Resubmit the same call: the cell resumes from its `last.pt` on its own."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)


def _fingerprint(task: Callable[[Any], Any], item: Any) -> str:
    """What a job computes, to tell a result of the same work from one of other work (an
    object `repr` with an address differs each run: then the cell is merely submitted again)."""
    text = f"{getattr(task, '__module__', '')}.{getattr(task, '__qualname__', task)!r}|{item!r}"
    return hashlib.sha256(text.encode()).hexdigest()


def _executor(executor: str, settings: Mapping[str, Any], folder: Path) -> Any:
    import submitit

    minutes = settings.get("time", DEFAULT_MINUTES)
    if executor == "submitit-local":
        local = submitit.LocalExecutor(folder=folder / "%j", max_num_timeout=REQUEUES)
        local.update_parameters(timeout_min=minutes)
        return local
    cpus = settings.get("cpus_per_cell", 1)
    slurm = submitit.SlurmExecutor(folder=folder / "%j", max_num_timeout=REQUEUES)
    parameters: dict[str, Any] = {
        "job_name": "patchswap",
        "partition": settings["partition"],
        "time": minutes,
        "cpus_per_task": cpus,
        "ntasks_per_node": 1,
        "setup": [f"export OMP_NUM_THREADS={cpus}"],
        "additional_parameters": dict(settings.get("sbatch", {})),
    }
    if settings.get("gpus_per_cell"):
        parameters["gpus_per_node"] = settings["gpus_per_cell"]
    if "account" in settings:
        parameters["account"] = settings["account"]
    if "array_parallelism" in settings:
        parameters["array_parallelism"] = settings["array_parallelism"]
    slurm.update_parameters(**parameters)
    return slurm


def _job(executor: str, record: Mapping[str, Any]) -> Any:
    """The submitit job of a record written by an earlier invocation."""
    import submitit

    kind = submitit.LocalJob if executor == "submitit-local" else submitit.SlurmJob
    return kind(folder=record["folder"], job_id=record["job_id"])


def _queued() -> dict[str, str]:
    """`squeue`'s live jobs of this user (array tasks one per line): job id -> state."""
    try:
        out = subprocess.run(
            ["squeue", "--me", "-h", "-r", "-o", "%i %T"],
            capture_output=True, text=True, check=True, timeout=60,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError) as err:
        raise CellFailed(f"squeue failed, so the cells' jobs cannot be followed: {err}") from None
    return dict(line.split(None, 1) for line in out.splitlines() if line.strip())


def _read_record(folder: Path) -> dict[str, Any] | None:
    try:
        record = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "job_id" in record else None


def _write_record(folder: Path, executor: str, job: Any, pattern: Path, fingerprint: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, target in (("slurm.out", job.paths.stdout), ("slurm.err", job.paths.stderr)):
        link = folder / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
    record = {
        "executor": executor,
        "job_id": str(job.job_id),
        "folder": str(pattern),  # submitit's folder pattern (with %j)
        "fingerprint": fingerprint,
        "submitted": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    atomic_write_text(folder / RECORD, json.dumps(record, indent=2) + "\n")


def _outcome(job: Any) -> tuple[str, Any]:
    """`("success", result)`, or `("error", the job's exception line)`, from a finished job's
    pickle (`job.result()` returns at once when the pickle is there; it never calls sacct)."""
    try:
        return "success", job.result()
    except Exception as err:  # submitit's FailedJobError carries the job's traceback as text
        lines = str(err).splitlines()
        raised = [line for line in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception)\b", line)]
        return "error", (raised or lines or ["no message"])[-1]


def run_cells(
    items: Sequence[Any],
    folders: Sequence[Path],
    task: Callable[[Any], Any],
    executor: str,
    settings: Mapping[str, Any],
    wait: bool,
    done: Callable[[int, Any], None],
) -> list[Any]:
    """`task(item)` for every item as a job (see the module's docstring); results in item order."""

    folders = [Path(f).absolute() for f in folders]
    root = Path(os.path.commonpath([str(f.parent) for f in folders])) / SUBMITIT_FOLDER
    root.mkdir(parents=True, exist_ok=True)
    fingerprints = [_fingerprint(task, item) for item in items]
    results: dict[int, Any] = {}
    jobs: dict[int, Any] = {}  # index -> job still to hear from
    queued = _queued() if executor == "slurm" else {}
    for index, folder in enumerate(folders):
        record = _read_record(folder) if executor == "slurm" else None
        if record is None or record.get("executor") != executor:
            continue
        if record.get("fingerprint") != fingerprints[index]:
            continue  # other work: submitted afresh (that job waits on the cell's claim)
        job = _job(executor, record)
        if job.paths.result_pickle.exists():  # (its job may still be leaving the queue)
            outcome, result = _outcome(job)
            if outcome == "success":
                results[index] = result
        elif queued.get(record["job_id"]) in LIVE_STATES:
            jobs[index] = job  # still queued or running: wait for it
    waiting_on_earlier = len(jobs)
    fresh = [i for i in range(len(items)) if i not in results and i not in jobs]
    if fresh:
        submitter = _executor(executor, settings, root)
        cell = _Cell()
        threads = settings.get("cpus_per_cell", 1)
        with submitter.batch():
            submitted = [submitter.submit(cell, task, items[i], folders[i], threads) for i in fresh]
        for index, job in zip(fresh, submitted):
            _write_record(folders[index], executor, job, root / "%j", fingerprints[index])
            jobs[index] = job
    for index in sorted(results):
        done(index, results[index])
    if jobs and not wait:
        raise CellsSubmitted(len(fresh), waiting_on_earlier, root)
    _collect(jobs, folders, executor, results, done)
    return [results[i] for i in range(len(items))]


def _collect(
    jobs: dict[int, Any],
    folders: Sequence[Path],
    executor: str,
    results: dict[int, Any],
    done: Callable[[int, Any], None],
) -> None:
    """Poll until every job has a result (into `results`, `done` told at once)."""
    gone_since: dict[int, float] = {}
    while jobs:
        queued = _queued() if executor == "slurm" and jobs else {}
        for index in sorted(jobs):
            job = jobs[index]
            if job.paths.result_pickle.exists():
                outcome, result = _outcome(job)
                if outcome != "success":
                    raise CellFailed(
                        f"cell {folders[index]} failed in job {job.job_id}: {result} "
                        f"(log: {job.paths.stderr})"
                    )
                results[index] = result
                del jobs[index]
                done(index, result)
                continue
            live = (
                queued.get(str(job.job_id)) in LIVE_STATES
                if executor == "slurm"
                else (not job.done())
            )
            if live:
                gone_since.pop(index, None)
            elif time.monotonic() - gone_since.setdefault(index, time.monotonic()) > (
                GONE_GRACE_SECONDS if executor == "slurm" else 1.0
            ):
                raise CellFailed(
                    f"cell {folders[index]}: job {job.job_id} ended without a result "
                    f"(cancelled, killed or out of memory?); log: {job.paths.stderr}; run the "
                    "same command again to resubmit it (it resumes from its last.pt)"
                )
        if jobs:
            time.sleep(POLL_SECONDS)
