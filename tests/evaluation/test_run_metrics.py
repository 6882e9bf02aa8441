"""The paper's metrics of a run folder as compare and study aggregate them."""

from __future__ import annotations

import json
import math

import pytest

from patchswap.config import load_config
from patchswap.engine import train
from patchswap.evaluation.run_metrics import EVALUATIONS, run_metrics


@pytest.mark.parametrize("holdout", [None, 3])
def test_temperature_scaled_ece_is_aggregated_when_the_run_held_out_images(
    tiny_run, tmp_path, holdout
):
    cfg = load_config(None, tiny_run("epochs=1", f"data.holdout_per_class={holdout or 'null'}"))
    summary = train(cfg, quiet=True)
    folder = tmp_path / "runs" / "tiny"
    metrics = run_metrics(folder, summary, ["calibration"], say=lambda _: None)
    assert set(EVALUATIONS["calibration"]) <= set(metrics)
    suite = json.loads((folder / "evaluation-last" / "results.json").read_text())
    if holdout is None:
        assert math.isnan(metrics["ece_scaled"])
    else:
        expected = 100 * suite["calibration"]["ece_scaled"]
        assert metrics["ece_scaled"] == pytest.approx(expected)
        assert suite["calibration"]["temperature"] > 0
