"""A plan's `executor:` block: checked with the plan, used only with `--executor slurm` (or
submitit-local), and overridden key by key by an `--executor-config` file."""

import pytest
import yaml

from patchswap.cli import _workers, build_parser
from patchswap.errors import ConfigError
from patchswap.study import load_plan


def _with_executor(block):
    def edit(plan):
        plan["executor"] = block

    return edit


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"partiton": "gpu"}, "study plan tiny.yaml: executor: unknown key 'partiton'; valid:"),
        ({"time": "1h"}, "study plan tiny.yaml: executor: time='1h' must be a whole number"),
        ("gpu", "study plan tiny.yaml: executor must be a mapping with keys partition, time"),
    ],
)
def test_a_bad_executor_block_is_one_line(plan_file, tmp_path, block, message):
    with pytest.raises(ConfigError, match=message):
        load_plan(plan_file(_with_executor(block)), tmp_path / "runs")


def test_the_config_file_overrides_the_plan_key_by_key(plan_file, tmp_path):
    plan = load_plan(
        plan_file(_with_executor({"partition": "gpu", "time": 30, "cpus_per_cell": 2})),
        tmp_path / "runs",
    )
    assert plan.executor == {"partition": "gpu", "time": 30, "cpus_per_cell": 2}
    config = tmp_path / "executor.yaml"
    config.write_text(yaml.safe_dump({"time": 5}))
    argv = ["study", str(plan.path), "--executor", "submitit-local", "--executor-config"]
    workers = _workers(build_parser().parse_args([*argv, str(config)]), plan.executor)
    assert dict(workers.settings) == {"partition": "gpu", "time": 5, "cpus_per_cell": 2}
    local = _workers(build_parser().parse_args(["study", str(plan.path)]), plan.executor)
    assert local.executor == "local" and not local.settings  # the block waits for the flag
