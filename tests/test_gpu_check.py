"""The prepared GPU check runs every step on CPU at tiny sizes (`--dry-run`), so the few
minutes of a lent GPU are not spent finding a typo."""

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_gpu_check_dry_run_runs_every_step(tmp_path):
    done = subprocess.run(
        ["bash", "scripts/gpu_check.sh", "--dry-run"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "OUT": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    table = done.stdout
    steps = ["cuda_tests", "swap_op", "data_path", "matched_cost"]
    steps += [f"epoch_{v}" for v in ("hard_label", "patchswap", "patchswap_matched")]
    for step in steps:
        assert f"| {step} | ok |" in table, step
    assert "matched, separate" in table and "over hard label" in table
    assert table.count("img/s") == 3
