"""`patchswap compare` over dense recipes: backbones x seeds, mIoU or mAP tables, per class."""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

import pytest

from patchswap.cli import main
from patchswap.compare.grid import Cell, plan_grid
from patchswap.compare.tables import per_class_markdown, tabulate, to_markdown
from patchswap.errors import ConfigError
from patchswap.recipes import find_recipe
from patchswap.runs import load_config, train

SEGMENTATION = "scenes/deeplabv3plus_resnet8"


@pytest.fixture
def scene_sets(scene_overrides: list[str]) -> list[str]:
    """`--set` arguments for a seconds-long dense cell on the 6 train / 3 test scenes."""
    return [a for o in scene_overrides for a in ("--set", o)]


@pytest.fixture
def backbones(tiny_run, tmp_path: Path) -> list[str]:
    """The swept backbones: resnet8 from scratch, and a finished `patchswap train` run of it
    (width 4, one epoch) by its last.pt."""
    train(load_config(None, tiny_run("epochs=1", "name=trained")), quiet=True)
    return ["resnet8", str(tmp_path / "runs" / "trained" / "last.pt")]


def _pm(values: list[float]) -> str:
    return f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f}"


def test_backbone_sweep_tabulates_miou_and_per_class_iou(capsys, scene_sets, backbones, tmp_path):
    out = tmp_path / "cmp"
    sweep = f"model.backbone={','.join(backbones)}"
    argv = ["compare", SEGMENTATION, "--sweep", sweep, "--seeds", "0", "1"]
    argv += ["--output-dir", str(out), *scene_sets, "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.count(": trained") == 4 and "best miou" in printed
    result = json.loads((out / "results.json").read_text())
    labels = [f"deeplabv3plus_resnet8 (model.backbone={path})" for path in backbones]
    assert [r["label"] for r in result["rows"]] == labels
    cells = {label: [c for c in result["cells"] if c["row"] == label] for label in labels}
    for runs in cells.values():
        assert [c["seed"] for c in runs] == [0, 1] and len({c["folder"] for c in runs}) == 2
        assert {c["backbone"] for c in runs} == {"resnet8"}
    assert {c["weights"] for c in cells[labels[0]]} == {None}
    assert {c["weights"] for c in cells[labels[1]]} == {backbones[1]}
    # cell folders: one per (backbone, seed), file-system-safe names
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert len(folders) == 4 and all(
        "/" not in f and f.endswith(("_seed0", "_seed1")) for f in folders
    )

    md = (out / "results.md").read_text()
    assert md in printed
    assert (
        "| row | seeds | best mIoU | last mIoU | last pixel acc. | Δ best | Δ last | p (last) |"
        in md
    )
    first, second = (cells[label] for label in labels)
    row = (
        f"| {labels[0]} | 2 | {_pm([c['best_miou'] for c in first])} | "
        f"{_pm([c['last_miou'] for c in first])} | "
        f"{_pm([c['last_pixel_accuracy'] for c in first])} | ref | ref | - |"
    )
    assert row in md
    gap = statistics.fmean(c["last_miou"] for c in second) - statistics.fmean(
        c["last_miou"] for c in first
    )
    assert f"| {labels[1]} | 2 | " in md and f"| {gap:+.2f} |" in md
    assert "mIoU and pixel accuracy in %, mean ± sample std over seeds 0, 1" in md
    assert f"to `{labels[0]}`; p: Welch's t-test on last-epoch mIoU." in md

    # The per-class table: a column per class, last-epoch IoU mean ± std over the seeds.
    classes = list(first[0]["last_iou"])
    assert classes[:2] == ["background", "tshirt"]
    assert f"| row | {' | '.join(classes)} | mIoU |" in md
    background = [c["last_iou"]["background"] for c in first]
    assert f"| {labels[0]} | {_pm(background)} |" in md
    assert "Per-class IoU in % at the last epoch" in md

    rows = {r["label"]: r for r in result["rows"]}
    assert rows[labels[0]]["reference"] and "method" not in rows[labels[0]]
    assert rows[labels[1]]["gap_last_miou"] == pytest.approx(gap)
    assert rows[labels[0]]["last_iou_background_mean"] == pytest.approx(
        statistics.fmean(background)
    )
    with (out / "results.csv").open() as f:
        table = list(csv.DictReader(f))
    assert [r["label"] for r in table] == labels
    assert float(table[0]["last_miou_mean"]) == pytest.approx(rows[labels[0]]["last_miou_mean"])
    assert all(f"last_iou_{c}_mean" in table[0] for c in classes)

    # A second invocation reads every cell back; a lost summary is rebuilt, not retrained.
    summaries = {p: p.read_text() for p in out.glob("*/summary.json")}
    next(iter(summaries)).unlink()
    assert main(argv) == 0
    assert capsys.readouterr().out.count(": finished earlier") == 4
    assert summaries == {p: p.read_text() for p in out.glob("*/summary.json")}


def _cells(recipe: str, row: str, seeds: list[int]) -> list[Cell]:
    path = find_recipe(recipe)
    return [Cell(row, path, seed, load_config(path, [f"seed={seed}"])) for seed in seeds]


def test_detection_table_has_map_and_per_class_ap_over_the_seeds_that_scored_it(tmp_path):
    cells = _cells("scenes/ssd_resnet8", "scratch", [0, 1]) + _cells(
        "scenes/ssd_resnet8", "distilled", [0, 1]
    )

    def summary(value: float, bag: float) -> dict:
        ap = {"tshirt": value, "bag": bag, "sandal": math.nan}
        return {"task": "detection", "best_map": value + 1, "last_map": value, "last_ap": ap}

    summaries = [summary(10, 5), summary(12, math.nan), summary(20, 7), summary(26, 9)]
    rows = tabulate(cells, summaries, swept=False)
    scratch, distilled = rows
    assert scratch.reference and distilled.gap_last == pytest.approx(12.0)  # the first row
    assert distilled.p_last is not None
    table = to_markdown(rows, [0, 1])
    assert "| row | seeds | best mAP | last mAP | Δ best | Δ last | p (last) |" in table
    assert "| scratch | 2 | 12.00 ± 1.41 | 11.00 ± 1.41 | ref | ref | - |" in table
    assert "VOC07 11-point mAP in %" in table and "on last-epoch mAP." in table
    per_class = per_class_markdown(rows, [0, 1])
    assert "| row | tshirt | bag | sandal | mAP |" in per_class
    # bag: nan in seed 1 (no AP there) -> the mean of seed 0 alone; sandal: no AP anywhere
    assert "| scratch | 11.00 ± 1.41 | 5.00 | - | 11.00 ± 1.41 |" in per_class
    assert "| distilled | 23.00 ± 4.24 | 8.00 ± 1.41 | - | 23.00 ± 4.24 |" in per_class
    record = distilled.record()
    assert "last_pixel_accuracy_mean" not in record and "last_top5_mean" not in record
    assert record["last_ap_bag_mean"] == pytest.approx(8.0)
    assert record["last_ap_sandal_mean"] is None and record["gap_best_map"] == pytest.approx(12)


@pytest.fixture
def classification_recipe(tmp_path: Path) -> str:
    path = tmp_path / "hard_label.yaml"
    path.write_text("base: []\nmethod:\n  name: hard_label\n")
    return str(path)


def test_one_compare_holds_one_task(capsys, classification_recipe, tmp_path):
    with pytest.raises(ConfigError, match="are of different tasks"):
        plan_grid([classification_recipe, SEGMENTATION], [0], None, [], tmp_path)
    out = tmp_path / "cmp"
    argv = ["compare", classification_recipe, SEGMENTATION, "--output-dir", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "hard_label (classification), deeplabv3plus_resnet8 (segmentation)" in err
    assert err.count("\n") == 1 and not out.exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--evaluate", "calibration"], "--evaluate calibration evaluates classifiers"),
        (["--sweep", "method.p=0,0.5"], "(segmentation recipes have no method)"),
    ],
)
def test_classification_only_options_are_one_line(capsys, tmp_path, extra, message):
    out = tmp_path / "cmp"
    assert main(["compare", SEGMENTATION, "--output-dir", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not out.exists()


def test_a_swept_head_option_makes_a_row_per_value(tmp_path):
    cells = plan_grid([SEGMENTATION], [0], "head_lr_scale=10,1", [], tmp_path)
    assert [c.row for c in cells] == [
        "deeplabv3plus_resnet8 (head_lr_scale=10)",
        "deeplabv3plus_resnet8 (head_lr_scale=1)",
    ]
    assert [c.folder.name for c in cells] == [
        "deeplabv3plus_resnet8_head-lr-scale10_seed0",
        "deeplabv3plus_resnet8_head-lr-scale1_seed0",
    ]
    assert [c.cfg.head_lr_scale for c in cells] == [10, 1]
