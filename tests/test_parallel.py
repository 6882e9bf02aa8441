"""Cells claimed with a file lock: never trained by two processes at once, claimable again as
soon as the holder ends or dies, waited for while it lives."""

import fcntl
import json
import os
import subprocess
import sys
import time

import pytest

from patchswap import parallel
from patchswap.errors import ConfigError
from patchswap.parallel import CLAIM, Workers, claimed, parse_gpus, run_all

HOLD = """
import fcntl, sys, time
claim = open(sys.argv[1], "a+")
fcntl.flock(claim, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    monkeypatch.setattr(parallel, "POLL_SECONDS", 0.05)


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
        (Workers(2, (0, 1)), "--gpus names GPU 0"),
    ],
)
def test_bad_workers(workers, message):
    import torch

    if torch.cuda.device_count() and workers.gpus:
        pytest.skip("this machine has GPUs")
    with pytest.raises(ConfigError, match=message):
        workers.check()


def test_gpus_parse_as_indices():
    assert parse_gpus("0,2") == (0, 2) and parse_gpus(None) == ()
    with pytest.raises(ConfigError, match="--gpus 'a,b' must list GPU indices"):
        parse_gpus("a,b")
