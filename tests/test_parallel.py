"""Cells claimed with a file lock: never trained by two processes at once, claimable again as
soon as the holder ends or dies, waited for while it lives."""

import fcntl
import json
import os
import subprocess
import sys
import time

import pytest

from patchswap import claims
from patchswap.claims import CLAIM, claimed
from patchswap.errors import ConfigError
from patchswap.parallel import Workers, parse_gpus, run_all

HOLD = """
import fcntl, sys, time
claim = open(sys.argv[1], "a+")
fcntl.flock(claim, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    monkeypatch.setattr(claims, "POLL_SECONDS", 0.05)


def hold(folder, seconds):
    """Another process holding the cell's claim for `seconds`."""
    folder.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder / CLAIM), str(seconds)], stdout=subprocess.PIPE
    )
    assert holder.stdout.readline().strip() == b"held"
    return holder


def test_a_claim_is_held_while_the_body_runs_and_released_after(tmp_path):
    with claimed(tmp_path / "cell"):
        assert json.loads((tmp_path / "cell" / CLAIM).read_text())["pid"] == os.getpid()
        with open(tmp_path / "cell" / CLAIM) as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(tmp_path / "cell" / CLAIM) as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again


def test_a_claim_of_a_live_process_is_waited_for(tmp_path):
    holder = hold(tmp_path / "cell", 1.0)
    start = time.monotonic()
    with claimed(tmp_path / "cell"):
        waited = time.monotonic() - start
    holder.wait()
    assert waited > 0.5  # not before the holder ended


def test_a_claim_of_a_killed_process_is_free_at_once(tmp_path):
    holder = hold(tmp_path / "cell", 60.0)
    holder.kill()
    holder.wait()
    start = time.monotonic()
    with claimed(tmp_path / "cell"):
        assert time.monotonic() - start < 5


def test_results_come_back_in_item_order(tmp_path):
    folders = [tmp_path / str(i) for i in range(4)]
    seen = []
    results = run_all([3, 1, 2, 0], folders, abs, Workers(1), lambda i, r: seen.append(i))
    assert results == [3, 1, 2, 0] and seen == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("workers", "message"),
    [
        (Workers(0), "--jobs 0 must be a whole number >= 1"),
        (Workers(1, cell_threads=0), "--threads 0 must be a whole number >= 1"),
        (Workers(1, executor="slurm", cell_threads=2), "--threads applies to --executor local"),
        (Workers(2, (0, 1)), "--gpus names GPU 0"),
    ],
)
def test_bad_workers(workers, message):
    import torch

    if torch.cuda.device_count() and workers.gpus:
        pytest.skip("this machine has GPUs")
    with pytest.raises(ConfigError, match=message):
        workers.check()


def cell_threads(_: object) -> int:
    import torch

    return torch.get_num_threads()


@pytest.mark.parametrize("jobs", [1, 2])
def test_every_cell_runs_with_the_threads_asked_for(tmp_path, jobs):
    """`--threads 1` holds in this process and in workers alike, so a grid's floats do not
    depend on --jobs; the process's own thread count comes back afterwards."""
    import torch

    before = torch.get_num_threads()
    folders = [tmp_path / str(i) for i in range(2)]
    assert run_all([0, 1], folders, cell_threads, Workers(jobs, cell_threads=1)) == [1, 1]
    assert torch.get_num_threads() == before


def test_gpus_parse_as_indices():
    assert parse_gpus("0,2") == (0, 2) and parse_gpus(None) == ()
    with pytest.raises(ConfigError, match="--gpus 'a,b' must list GPU indices"):
        parse_gpus("a,b")


def test_a_cell_killed_mid_run_resumes_in_the_next_invocation(tmp_path, tiny_run, capsys):
    """SIGKILL to a `patchswap compare` after its cell's first epoch: the claim dies with it,
    and the next invocation claims the cell and resumes it from its last.pt."""
    from patchswap.cli import main

    epochs = 20  # a tenth of a second each here: time to kill it mid-cell
    recipe = tmp_path / "hard_label.yaml"
    recipe.write_text("base: []\nmethod:\n  name: hard_label\n")
    keep = [o for o in tiny_run(f"epochs={epochs}") if not o.startswith(("name=", "output_dir="))]
    out = tmp_path / "cmp"
    argv = ["compare", str(recipe), "--seeds", "0", "--output-dir", str(out), "--quiet"]
    argv += [a for o in keep for a in ("--set", o)]
    run = subprocess.Popen([sys.executable, "-m", "patchswap", *argv], env=os.environ.copy())
    cell = out / "hard_label_seed0"
    deadline = time.monotonic() + 300
    while not (cell / "last.pt").is_file():
        assert run.poll() is None and time.monotonic() < deadline, "no last.pt before the end"
        time.sleep(0.02)
    run.kill()
    run.wait()
    summary = cell / "summary.json"
    assert not summary.is_file() or json.loads(summary.read_text())["epochs_done"] < epochs
    assert main(argv) == 0
    assert "[1/1] hard_label_seed0: resumed" in capsys.readouterr().out
    assert json.loads(summary.read_text())["epochs_done"] == epochs


POOL = """
import os, sys, time
from pathlib import Path
from patchswap.parallel import Workers, run_all

def sleep_in_cell(folder):
    (folder / "pid").write_text(str(os.getpid()))
    time.sleep(120)

if __name__ == "__main__":
    folders = [Path(sys.argv[1]) / f"cell{i}" for i in range(2)]
    for folder in folders:
        folder.mkdir(parents=True)
    run_all(folders, folders, sleep_in_cell, Workers(jobs=2))
"""


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie has ended too
        return stat.read().split(")")[-1].split()[0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_end_when_their_invocation_is_killed(tmp_path):
    """`kill` on a `--jobs 2` invocation (no chance to clean up): its workers stop within a
    second or two instead of training on, holding their cells' claims."""
    script = tmp_path / "pool.py"
    script.write_text(POOL)
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path / "cells")])
    pids = [tmp_path / "cells" / f"cell{i}" / "pid" for i in range(2)]
    deadline = time.monotonic() + 120
    while not all(p.is_file() and p.read_text() for p in pids):
        assert parent.poll() is None and time.monotonic() < deadline, "workers never started"
        time.sleep(0.05)
    workers = [int(p.read_text()) for p in pids]
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [pid for pid in workers if _alive(pid)]
    for pid in alive:
        os.kill(pid, 9)
    assert not alive, f"workers {alive} outlived their killed invocation"
