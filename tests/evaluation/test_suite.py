"""`patchswap evaluate` end to end on a checkpoint trained in seconds."""

import json
import shutil

import numpy as np
import pytest

from patchswap.cli import main
from patchswap.engine.step_stats import CONFIDENCE_GAP_KEY, KD_GRADIENT_KEY
from patchswap.runs import load_config, train


@pytest.fixture
def checkpoint(tiny_run, tmp_path):
    train(load_config(None, tiny_run()), quiet=True)
    return tmp_path / "runs" / "tiny" / "best.pt"


def test_evaluate_writes_json_report_and_plots(checkpoint, tmp_path, capsys):
    # Pair statistics as the trainer would log them, to be plotted from metrics.jsonl.
    log = checkpoint.parent / "metrics.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    stats = {KD_GRADIENT_KEY: 0.3, CONFIDENCE_GAP_KEY: 0.1}
    log.write_text("".join(json.dumps({**r, **stats}) + "\n" for r in records))
    out = tmp_path / "eval"
    options = ["--eps", "0", "0.01", "--attack-steps", "2", "--severities", "1", "5"]
    options += ["--set", "data.test_subset=10"]
    argv = ["evaluate", str(checkpoint), "--suite", "all", "--out", str(out), *options]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Table 10" in printed and "| FGSM | I-FGSM |" in printed and "| DB | GB |" in printed

    results = json.loads((out / "results.json").read_text())
    assert set(results["accuracy"]) == {"top1", "top5", "nll"}
    calibration = {"aurc", "eaurc", "fpr95", "aupr_error", "ece", "brier", "bins"}
    assert set(results["calibration"]) == calibration | {"temperature", "ece_scaled", "holdout"}
    assert results["calibration"]["ece_scaled"] is None  # the run held out no images
    assert results["adversarial"]["fgsm"]["0"] == pytest.approx(results["accuracy"]["top1"])
    corruption = results["corruption"]
    assert corruption["source"] == "generated" and len(corruption["corruptions"]) == 10
    assert set(corruption["corruptions"]["fog"]["severity"]) == {"1", "5"}
    means = [entry["mean"] for entry in corruption["corruptions"].values()]
    assert corruption["mean"] == pytest.approx(np.mean(means))
    assert results["analysis"]["train_test_gap"]["test_top1"] == pytest.approx(
        100 * results["accuracy"]["top1"]
    )
    report = (out / "report.md").read_text()
    assert "not the released CIFAR-10-C" in report and "held out no training images" in report
    # Table 11 in the paper's unit: error rates, accuracy alongside.
    table11 = report.split("## Table 11")[1]
    error_row = next(line for line in table11.splitlines() if line.startswith("| error (%)"))
    assert error_row.endswith(f"| {100 * (1 - corruption['mean']):.2f} |")
    for name in results["plots"].values():
        assert (out / name).read_bytes()[:4] == b"\x89PNG", name
    expected = {"reliability", "adversarial", "corruption", "train_test_gap", "grad_cam"}
    expected |= {"predictive_distribution", "conv_gradients", "pair_statistics"}
    assert set(results["plots"]) == expected

    # The generated set in the released layout, read back as "released" files, gives the same
    # numbers: the loader and the generator agree on the layout.
    # A released-only corruption (here fog's pixels under pixelate's name) is read from files.
    released = tmp_path / "released"
    shutil.copytree(corruption["folder"], released)
    shutil.copy(released / "fog.npy", released / "pixelate.npy")
    again = tmp_path / "again"
    options = ["--corruption-root", str(released), "--corruptions", "fog", "snow", "pixelate"]
    argv = ["evaluate", str(checkpoint), "--suite", "corruption", "--out", str(again), *options]
    assert main(argv) == 0
    second = json.loads((again / "results.json").read_text())["corruption"]
    assert second["source"] == "released"
    for name in ("fog", "snow"):
        assert second["corruptions"][name]["severity"]["5"] == pytest.approx(
            corruption["corruptions"][name]["severity"]["5"]
        )
    assert second["corruptions"]["pixelate"] == second["corruptions"]["fog"]


def test_temperature_is_fitted_on_the_held_out_training_images(tiny_run, tmp_path):
    train(load_config(None, tiny_run("data.holdout_per_class=2")), quiet=True)
    out = tmp_path / "eval"
    run = tmp_path / "runs" / "tiny"
    assert main(["evaluate", str(run), "--suite", "calibration", "--out", str(out)]) == 0
    calibration = json.loads((out / "results.json").read_text())["calibration"]
    assert calibration["holdout"] == 20 and calibration["temperature"] > 0
    assert 0 <= calibration["ece_scaled"] <= 1
    assert "fitted (NLL) on 20 held-out training images" in (out / "report.md").read_text()


def test_bad_options_are_one_line_errors(checkpoint, tmp_path, capsys):
    cases = [
        (["--eps", "2"], "epsilon 2.0 is outside [0, 1]"),
        (["--suite", "accuracy,speed"], "unknown suite 'speed'; valid suites"),
        (["--severities", "0"], "severity 0 is not one of 1-5"),
        (["--corruption-root", str(tmp_path)], "defocus_blur.npy is missing"),
        (["--corruptions", "pixelate"], "'pixelate' is only in the released CIFAR-C files"),
        (
            ["--set", "data.holdout_per_class=2"],
            "data.holdout_per_class is fixed by the checkpoint",
        ),
        (["--set", "model.name=resnet20"], "model.name is fixed by the checkpoint"),
    ]
    argv = ["evaluate", str(checkpoint), "--suite", "corruption", "--out", str(tmp_path / "o")]
    for extra, message in cases:
        assert main(argv + extra) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
