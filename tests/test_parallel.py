"""Cells claimed with a lock file: never trained twice at once, taken over when their holder
died, waited for while it lives."""

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from patchswap import parallel
from patchswap.errors import ConfigError
from patchswap.parallel import CLAIM, Workers, claimed, parse_gpus, run_all


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    monkeypatch.setattr(parallel, "POLL_SECONDS", 0.05)


def write_claim(folder, host, pid):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CLAIM).write_text(json.dumps({"host": host, "pid": pid}))


def test_a_claim_is_held_while_the_body_runs_and_released_after(tmp_path):
    with claimed(tmp_path / "cell"):
        holder = json.loads((tmp_path / "cell" / CLAIM).read_text())
        assert holder == {"host": socket.gethostname(), "pid": os.getpid()}
    assert not (tmp_path / "cell" / CLAIM).exists()


def test_a_claim_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_claim(tmp_path / "cell", socket.gethostname(), dead.pid)
    with claimed(tmp_path / "cell"):
        assert json.loads((tmp_path / "cell" / CLAIM).read_text())["pid"] == os.getpid()


def test_a_claim_of_a_live_process_is_waited_for(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.0)"])
    reaper = threading.Thread(target=holder.wait)  # as its own parent would, once it ends
    reaper.start()
    write_claim(tmp_path / "cell", socket.gethostname(), holder.pid)
    start = time.monotonic()
    with claimed(tmp_path / "cell"):
        waited = time.monotonic() - start
    reaper.join()
    assert waited > 0.5  # not before the holder ended


def test_a_claim_from_another_machine_is_never_broken(tmp_path, monkeypatch):
    write_claim(tmp_path / "cell", "another-host", 1)
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 3:
            (tmp_path / "cell" / CLAIM).unlink()  # the other machine finishes

    monkeypatch.setattr(parallel.time, "sleep", sleep)
    with claimed(tmp_path / "cell"):
        pass
    assert len(sleeps) == 3


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
