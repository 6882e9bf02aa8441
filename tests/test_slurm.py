"""Cells as jobs (`--executor slurm`, through submitit): the bad-input lines, submitit's local
executor, and a real single-node SLURM (`scripts/start_slurm.sh`, which `scripts/test.sh`
runs first): the table equals the sequential run's, `--no-wait` then a second invocation
collects, and a job cancelled mid-cell is resubmitted and resumes from its `last.pt`."""

import fcntl
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from patchswap import slurm
from patchswap.cli import main
from patchswap.errors import ConfigError
from patchswap.parallel import Workers

STATUS = Path(os.environ.get("PATCHSWAP_SLURM_STATUS", "/tmp/patchswap-slurm/status"))


def slurm_down() -> str | None:
    """Why the real-SLURM tests cannot run here, or None when a node is idle."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        why = STATUS.read_text().strip() if STATUS.is_file() else "ok"
        why = "scripts/start_slurm.sh did not run here" if why == "ok" else why
        return f"no sinfo/sbatch on PATH ({why})"
    try:
        states = subprocess.run(
            ["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=30
        ).stdout.split()
    except (OSError, subprocess.SubprocessError) as err:
        return f"sinfo failed: {err}"
    if not {"idle", "mix", "alloc"} & set(states):
        seen = " ".join(states) or "nothing"
        return f"no SLURM node up (sinfo: {seen}); run scripts/start_slurm.sh"
    return None


DOWN = slurm_down()
needs_slurm = pytest.mark.skipif(DOWN is not None, reason=f"real SLURM: {DOWN}")


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    monkeypatch.setattr(slurm, "POLL_SECONDS", 0.5)


def config_file(tmp_path, settings):
    path = tmp_path / f"executor-{len(list(tmp_path.glob('executor-*')))}.yaml"
    path.write_text(yaml.safe_dump(settings))
    return str(path)


def records(folder):
    """Each cell's job record (`slurm-job.json`), by cell name."""
    return {p.parent.name: json.loads(p.read_text()) for p in folder.glob("*/slurm-job.json")}


def assert_claims_free(folder):
    for claim in folder.rglob(".claim"):
        with open(claim) as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)


# --- bad input: one line, before anything is submitted ---------------------------------------


NO_CONFIG = object()
BAD = [
    (["--executor", "pbs"], NO_CONFIG, "--executor 'pbs' is unknown; valid: local, slurm,"),
    (["--executor", "slurm", "--jobs", "0"], NO_CONFIG, "--jobs 0 must be a whole number >= 1"),
    (["--executor", "slurm", "--jobs", "2"], NO_CONFIG, "--jobs 2 applies to --executor local"),
    (["--executor", "slurm", "--gpus", "0"], NO_CONFIG, "set gpus_per_cell"),
    (["--executor", "slurm"], {"time": 5}, "--executor slurm needs a partition"),
    (["--executor", "slurm"], {"partiton": "debug"}, "unknown key 'partiton'; valid: partition,"),
    (["--executor", "slurm"], {"partition": "q", "time": 0}, "time=0 must be a whole number"),
    (["--executor", "slurm"], {"partition": "q", "sbatch": ["x"]}, "sbatch must map sbatch"),
    (["--executor", "slurm"], {"partition": "q", "gpus_per_cell": 2}, "on one GPU"),
    (["--executor", "slurm"], ["partition"], "must be a mapping with keys"),
    ([], {"partition": "q"}, "--executor-config applies to --executor slurm"),
    (["--no-wait"], NO_CONFIG, "--no-wait applies to --executor slurm"),
    (["--executor", "submitit-local", "--no-wait"], NO_CONFIG, "--no-wait needs --executor slurm"),
]


@pytest.mark.parametrize(("flags", "config", "message"), BAD)
def test_bad_executor_input_is_one_line_before_anything_runs(
    recipes, sets, tmp_path, capsys, flags, config, message
):
    if config is not NO_CONFIG:
        flags = [*flags, "--executor-config", config_file(tmp_path, config)]
    out = tmp_path / "cmp"
    assert main(["compare", *recipes, *sets, "--output-dir", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_an_executor_config_runs_no_code(tmp_path):
    """Read with yaml.safe_load: a Python tag is an error, never a call."""
    marker = tmp_path / "ran"
    path = tmp_path / "evil.yaml"
    path.write_text(f"partition: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        slurm.load_settings(path)
    assert not marker.exists()


def test_a_missing_submitit_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit raises ImportError
    with pytest.raises(ConfigError, match=r"needs submitit.*pip install patchswap\[slurm\]"):
        Workers(executor="slurm", settings={"partition": "q"}).check()


def test_slurm_without_sbatch_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    with pytest.raises(ConfigError, match="no `sbatch` on PATH; submit from a SLURM login node"):
        Workers(executor="slurm", settings={"partition": "q"}).check()


def test_gpus_is_refused_with_the_executor_before_any_device_is_looked_up():
    with pytest.raises(ConfigError, match="--gpus applies to --executor local; with --executor"):
        Workers(1, (7,), "slurm", {"partition": "q"}).check()


# --- the job path: submitit's local executor, then a real SLURM --------------------------------


def run_compare(recipes, sets, out, *flags):
    return main(["compare", *recipes, "--seeds", "0", *sets, "--output-dir", str(out), *flags])


@pytest.fixture
def sequential(recipes, sets, tmp_path):
    """The two-cell grid run here one cell after the other: the table every executor matches."""
    assert run_compare(recipes, sets, tmp_path / "sequential", "--quiet") == 0
    return (tmp_path / "sequential" / "results.md").read_text()


def assert_logs_in_cells(out, executor):
    jobs = records(out)
    assert sorted(jobs) == ["hard_label_seed0", "patchswap_seed0"]
    for name, record in jobs.items():
        assert record["executor"] == executor
        log = out / name / "slurm.out"
        assert log.is_symlink() and log.resolve().is_file()  # the job's log, from the cell
        assert record["job_id"] in log.resolve().name
    return jobs


def test_submitit_local_executor_gives_the_sequential_table(
    recipes, sets, tmp_path, sequential, capsys
):
    out = tmp_path / "submitit"
    assert run_compare(recipes, sets, out, "--quiet", "--executor", "submitit-local") == 0
    printed = capsys.readouterr().out
    assert (out / "results.md").read_text() == sequential
    assert "[1/2]" in printed and "[2/2]" in printed and printed.count(": trained") == 2
    assert_logs_in_cells(out, "submitit-local")
    assert_claims_free(out)


def test_a_failed_job_is_one_error_naming_its_cell_and_log(tmp_path):
    """The job's exception comes back as CellFailed, with the cell and its log."""
    folders = [tmp_path / "a", tmp_path / "b"]
    with pytest.raises(slurm.CellFailed, match=r"cell .*/b failed in job .*: ValueError.*log: "):
        slurm.run_cells([4, -1], folders, math.sqrt, "submitit-local", {}, True, print)


SLURM = {"partition": "debug", "time": 10, "cpus_per_cell": 1}


@needs_slurm
def test_slurm_grid_gives_the_sequential_table(recipes, sets, tmp_path, sequential, capsys):
    out = tmp_path / "slurm"
    flags = ["--quiet", "--executor", "slurm", "--executor-config", config_file(tmp_path, SLURM)]
    assert run_compare(recipes, sets, out, *flags) == 0
    printed = capsys.readouterr().out
    assert (out / "results.md").read_text() == sequential
    assert "[1/2]" in printed and "[2/2]" in printed and printed.count(": trained") == 2
    jobs = assert_logs_in_cells(out, "slurm")
    assert len({r["job_id"].split("_")[0] for r in jobs.values()}) == 1  # one job array
    assert_claims_free(out)


@needs_slurm
def test_no_wait_submits_and_a_second_invocation_collects(
    recipes, sets, tmp_path, sequential, capsys
):
    out = tmp_path / "slurm"
    flags = ["--quiet", "--executor", "slurm", "--executor-config", config_file(tmp_path, SLURM)]
    assert run_compare(recipes, sets, out, *flags, "--no-wait") == 0
    printed = capsys.readouterr().out
    assert "2 cells submitted" in printed and "run the same command again" in printed
    assert not (out / "results.md").exists()
    submitted = {name: r["job_id"] for name, r in records(out).items()}
    assert run_compare(recipes, sets, out, *flags) == 0  # waits for those jobs, submits none
    assert (out / "results.md").read_text() == sequential
    assert {name: r["job_id"] for name, r in records(out).items()} == submitted
    assert run_compare(recipes, sets, out, *flags, "--no-wait") == 0  # all there: the table
    assert "submitted" not in capsys.readouterr().out.splitlines()[-1]
    assert {name: r["job_id"] for name, r in records(out).items()} == submitted


@needs_slurm
def test_a_killed_job_is_resubmitted_and_its_cell_resumes(recipes, sets, tmp_path, capsys):
    """SIGKILL to a job's cell process mid-cell (after its first epoch, as an out-of-memory
    kill would): the job fails without a result; the next invocation resubmits the cell, which
    resumes from its last.pt and finishes. (A plain scancel sends SIGTERM, which submitit
    ignores for its grace period: a tiny cell could finish meanwhile.)"""
    out = tmp_path / "slurm"
    epochs = 40  # a tenth of a second each here: seconds to kill it in
    flags = [
        "--set", f"epochs={epochs}", "--quiet", "--executor", "slurm",
        "--executor-config", config_file(tmp_path, SLURM),
    ]  # fmt: skip
    one = recipes[:1]
    assert run_compare(one, sets, out, *flags, "--no-wait") == 0
    first = records(out)["hard_label_seed0"]["job_id"]
    cell = out / "hard_label_seed0"
    deadline = time.monotonic() + 300
    while not (cell / "last.pt").is_file():
        assert time.monotonic() < deadline, "the job never wrote its first last.pt"
        time.sleep(0.02)
    subprocess.run(["scancel", "--signal=KILL", f"{first}.0"], check=True)  # the cell's step
    while first in slurm._queued():
        time.sleep(0.2)
    summary = cell / "summary.json"
    assert not summary.is_file() or json.loads(summary.read_text())["epochs_done"] < epochs
    capsys.readouterr()
    assert run_compare(one, sets, out, *flags) == 0
    assert "[1/1] hard_label_seed0: resumed" in capsys.readouterr().out
    second = records(out)["hard_label_seed0"]["job_id"]
    assert second != first and second in str((cell / "slurm.out").resolve())
    assert json.loads(summary.read_text())["epochs_done"] == epochs
    assert_claims_free(out)
