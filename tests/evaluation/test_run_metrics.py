"""The paper's metrics of a run folder as compare and study aggregate them."""

from __future__ import annotations

import json
import math

import pytest

from patchswap.evaluation.metric_table import EVALUATIONS
from patchswap.evaluation.run_metrics import SuiteBudget, run_metrics
from patchswap.runs import load_config, train


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
        assert math.isnan(metrics["ece_scaled"]) and math.isnan(metrics["temperature"])
    else:
        expected = 100 * suite["calibration"]["ece_scaled"]
        assert metrics["ece_scaled"] == pytest.approx(expected)
        assert suite["calibration"]["temperature"] > 0
        assert metrics["temperature"] == pytest.approx(suite["calibration"]["temperature"])


def test_a_suite_budget_evaluates_the_first_test_images_and_renews_a_cache_of_another(
    tiny_run, tmp_path
):
    summary = train(load_config(None, tiny_run("epochs=1")), quiet=True)
    folder = tmp_path / "runs" / "tiny"
    results = folder / "evaluation-last" / "results.json"
    quiet = lambda _: None  # noqa: E731

    full = run_metrics(folder, summary, ["adversarial"], quiet)
    everything = json.loads(results.read_text())["test_samples"]
    budget = SuiteBudget(epsilons=(0.0, 0.01, 0.05), test_subset=everything // 2)
    half = run_metrics(folder, summary, ["adversarial"], quiet, budget)
    suite = json.loads(results.read_text())
    assert suite["test_samples"] == everything // 2  # not the full set's cached results
    assert set(suite["adversarial"]["fgsm"]) == {"0", "0.01", "0.05"}
    assert set(full) == set(half)

    stamp = results.stat().st_mtime_ns
    run_metrics(folder, summary, ["adversarial"], quiet, budget)
    assert results.stat().st_mtime_ns == stamp  # the same budget reads the cache


def test_a_cached_suite_without_the_tables_epsilons_is_evaluated_again(tiny_run, tmp_path):
    from patchswap.evaluation.suite import SuiteOptions, run_suite

    summary = train(load_config(None, tiny_run("epochs=1")), quiet=True)
    folder = tmp_path / "runs" / "tiny"
    # as `patchswap evaluate RUN --eps 0 0.001` leaves it: the default folder, other epsilons
    run_suite(folder, SuiteOptions(suites=("accuracy", "adversarial"), epsilons=(0.0, 0.001)))
    metrics = run_metrics(folder, summary, ["adversarial"], say=lambda _: None)
    assert all(0 <= metrics[key] <= 100 for key in EVALUATIONS["adversarial"])


@pytest.mark.parametrize("rate", [0.0, 0.4])
def test_noise_fit_splits_the_train_accuracy_into_flipped_and_kept_labels(tiny_run, tmp_path, rate):
    cfg = load_config(None, tiny_run("epochs=1", f"data.label_noise.rate={rate}"))
    summary = train(cfg, quiet=True)
    folder = tmp_path / "runs" / "tiny"
    metrics = run_metrics(folder, summary, ["gap", "noise_fit"], say=lambda _: None)
    fit = json.loads((folder / "study-noise-fit.json").read_text())
    if rate == 0:
        assert math.isnan(metrics["train_top1_flipped"]) and fit["flipped"] == 0
        assert metrics["train_top1_kept"] == pytest.approx(metrics["train_top1"])
        return
    record = json.loads((folder / "label_noise.json").read_text())
    assert fit["flipped"] == record["num_flipped"] == 24  # 40% of 60
    # two code paths agree: the gap's train top-1 is the count-weighted mean of the two parts
    blended = (24 * metrics["train_top1_flipped"] + 36 * metrics["train_top1_kept"]) / 60
    assert blended == pytest.approx(metrics["train_top1"])
