"""`patchswap compare`: the grid, its table, and resuming where it stopped."""

import fcntl
import json
import math
import os
import statistics

import pytest

from patchswap.cli import main
from patchswap.compare.command import compare
from patchswap.compare.grid import Cell, parse_sweep, plan_grid
from patchswap.compare.results import write_results
from patchswap.compare.stats import mean_std
from patchswap.compare.tables import pm_text, tabulate, to_markdown
from patchswap.engine.trainer import Trainer
from patchswap.errors import ConfigError, PatchswapError
from patchswap.runs import load_config


def _summaries(folder):
    return {p.parent.name: json.loads(p.read_text()) for p in folder.glob("*/summary.json")}


def test_grid_table_and_resume(capsys, recipes, sets, tmp_path):
    out = tmp_path / "cmp"
    argv = ["compare", *recipes, "--seeds", "0", "1", "--output-dir", str(out), *sets, "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    summaries = _summaries(out)
    assert sorted(summaries) == [
        "hard_label_seed0",
        "hard_label_seed1",
        "patchswap_seed0",
        "patchswap_seed1",
    ]
    assert printed.count(": trained") == 4
    for name in ("results.md", "results.csv", "results.json"):
        assert (out / name).is_file()
    assert (out / "results.md").read_text() in printed

    rows = {r["label"]: r for r in json.loads((out / "results.json").read_text())["rows"]}
    assert rows["hard_label"]["reference"] and not rows["patchswap"]["reference"]
    for label, row in rows.items():
        runs = [summaries[f"{label}_seed{s}"] for s in (0, 1)]
        for key in ("best_top1", "last_top1", "last_top5"):
            values = [r[key] for r in runs]
            assert row[f"{key}_mean"] == pytest.approx(statistics.fmean(values))
            assert row[f"{key}_std"] == pytest.approx(statistics.stdev(values))
        assert (
            f"| {label} | 2 | {row['best_top1_mean']:.2f} ± {row['best_top1_std']:.2f} |" in printed
        )
    gap = rows["patchswap"]["last_top1_mean"] - rows["hard_label"]["last_top1_mean"]
    assert rows["patchswap"]["gap_last_top1"] == pytest.approx(gap)

    # A second invocation trains nothing.
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/last.pt")}
    assert main(argv) == 0
    assert capsys.readouterr().out.count(": finished earlier") == 4
    assert stamps == {p: p.stat().st_mtime_ns for p in out.glob("*/last.pt")}

    # A finished cell whose summary was deleted is rebuilt from its run folder, not retrained:
    # nothing a user trained is thrown away.
    (out / "patchswap_seed1" / "summary.json").unlink()
    assert main(argv) == 0
    assert capsys.readouterr().out.count(": finished earlier") == 4
    assert _summaries(out) == summaries
    assert stamps == {p: p.stat().st_mtime_ns for p in out.glob("*/last.pt")}


def test_interrupted_grid_resumes_its_unfinished_cell(capsys, recipes, sets, tmp_path, monkeypatch):
    out = tmp_path / "cmp"
    original = Trainer.train_epoch

    def interrupted(self, epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return original(self, epoch)

    overrides = [v for v in sets if v != "--set"] + ["epochs=2"]
    monkeypatch.setattr(Trainer, "train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        compare(recipes[:1], [0], overrides=overrides, output_dir=out, quiet=True)
    monkeypatch.setattr(Trainer, "train_epoch", original)
    compare(recipes[:1], [0], overrides=overrides, output_dir=out, quiet=True)
    assert "hard_label_seed0: resumed" in capsys.readouterr().out
    assert _summaries(out)["hard_label_seed0"]["epochs_done"] == 2


def test_a_folder_of_another_config_is_not_reused(recipes, sets, tmp_path):
    overrides = [v for v in sets if v != "--set"]
    compare(recipes[:1], [0], overrides=overrides, output_dir=tmp_path, quiet=True)
    with pytest.raises(PatchswapError, match="holds a run with optim.lr=0.05"):
        compare(recipes[:1], [0], overrides=[*overrides, "optim.lr=0.1"], output_dir=tmp_path)


def test_seed_placeholder_takes_each_cells_seed(recipes, tmp_path):
    cells = plan_grid(
        recipes[:1], [3, 7], "data.root=runs/b{seed},runs/c", ["data.subset_seed={seed}"], tmp_path
    )
    assert [(c.seed, c.cfg.data.subset_seed, c.cfg.data.root) for c in cells] == [
        (3, 3, "runs/b3"),
        (7, 7, "runs/b7"),
        (3, 3, "runs/c"),
        (7, 7, "runs/c"),
    ]
    assert cells[0].row == "hard_label (data.root=runs/b{seed})"


def test_sweep_applies_to_recipes_whose_method_has_the_option(recipes, tmp_path):
    cells = plan_grid(recipes, [0, 1], "method.p=0,0.5", [], tmp_path)
    assert [c.cfg.name for c in cells] == [
        "hard_label_seed0",
        "hard_label_seed1",
        "patchswap_p0_seed0",
        "patchswap_p0_seed1",
        "patchswap_p0.5_seed0",
        "patchswap_p0.5_seed1",
    ]
    assert [c.cfg.method.get("p") for c in cells[2:]] == [0, 0, 0.5, 0.5]
    assert cells[2].row == "patchswap (method.p=0)"
    assert {c.cfg.seed for c in cells} == {0, 1} and {c.cfg.output_dir for c in cells} == {
        str(tmp_path)
    }


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sweep": "method.p"}, "must look like KEY=V1,V2"),
        ({"sweep": "method.nothing=1,2"}, "none of the recipes' methods has this option"),
        ({"overrides": ["seed=3"]}, "compare sets seed itself; use --seeds"),
        ({"seeds": [0, 0]}, "must list distinct seeds"),
        ({"overrides": ["method.grid=2"]}, "unknown key method.grid in method 'hard_label'"),
    ],
)
def test_bad_grids_fail_before_training(recipes, tmp_path, kwargs, message):
    options = {"seeds": [0], "sweep": None, "overrides": [], **kwargs}
    with pytest.raises(ConfigError, match=message):
        plan_grid(recipes, options["seeds"], options["sweep"], options["overrides"], tmp_path)


def _cells(tmp_path, method, seeds):
    cfg = load_config(None, [f"method={method}"])
    return [Cell(method, tmp_path, seed, cfg) for seed in seeds]


def test_gap_and_welch_p_value_by_hand(tmp_path):
    cells = _cells(tmp_path, "hard_label", [0, 1]) + _cells(tmp_path, "patchswap", [0, 1])
    cells += _cells(tmp_path, "kd", [0])

    def summary(top1):
        return {"best_top1": top1 + 1, "last_top1": top1, "last_top5": 99.0}

    rows = tabulate(cells, [summary(v) for v in (1.0, 3.0, 4.0, 6.0, 7.0)], swept=False)
    hard, swap, single = rows
    assert hard.reference and hard.gap_last is None
    assert swap.gap_last == pytest.approx(3.0) and swap.last_std == pytest.approx(2**0.5)
    # Welch with equal variances 2 and n = 2: t = 3 / sqrt(2), 2 degrees of freedom, where the
    # two-sided p-value is 1 - t / sqrt(2 + t^2).
    t = 3 / math.sqrt(2)
    assert swap.p_last == pytest.approx(1 - t / math.sqrt(2 + t * t))
    assert single.p_last is None and single.last_std is None
    table = to_markdown(rows, [0, 1])
    assert "| hard_label | 2 | 3.00 ± 1.41 | 2.00 ± 1.41 | 99.00 ± 0.00 | ref | ref | - |" in table
    assert "| kd | 1 | 8.00 | 7.00 | 99.00 | +5.00 | +5.00 | - |" in table


def test_without_hard_label_a_sweep_compares_to_its_first_row(tmp_path):
    cells = _cells(tmp_path, "patchswap", [0]) + _cells(tmp_path, "kd", [0])
    cells[1].row = "other"
    summaries = [{"best_top1": v, "last_top1": v, "last_top5": v} for v in (1.0, 2.0)]
    assert tabulate(cells, summaries, swept=True)[1].gap_last == pytest.approx(1.0)
    assert tabulate(cells, summaries, swept=False)[1].gap_last is None


def test_swept_values_need_folders_of_their_own(recipes, tmp_path):
    with pytest.raises(ConfigError, match="would share the cell folder"):
        plan_grid(recipes[:1], [0], "data.root=data/a b,data/a-b", [], tmp_path)
    with pytest.raises(ConfigError, match="longer than 255 bytes"):
        plan_grid(recipes[:1], [0], f"data.root={'d' * 250}", [], tmp_path)


def test_a_metric_a_run_could_not_measure_is_a_dash():
    assert math.isnan(mean_std([math.nan, 1.0])[0]) and pm_text(*mean_std([math.nan, 1.0])) == "-"
    assert pm_text(*mean_std([1.0, 3.0])) == "2.00 ± 1.41"


def test_parse_sweep_keeps_the_values_as_text():
    assert parse_sweep("method.grid=2,4") == ("method.grid", ["2", "4"])


def test_cli_errors_are_one_line(capsys, recipes):
    assert main(["compare", *recipes, "--sweep", "method.p"]) == 2
    err = capsys.readouterr().err
    assert "must look like KEY=V1,V2" in err and err.count("\n") == 1


def test_evaluate_aggregates_the_paper_metrics_over_seeds(capsys, recipes, sets, tmp_path):
    out = tmp_path / "cmp"
    argv = ["compare", *recipes, "--seeds", "0", "1", "--output-dir", str(out), *sets]
    assert main([*argv, "--evaluate", "gap,calibration", "--quiet"]) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "results.json").read_text())
    for cell in result["cells"]:
        folder = out / f"{cell['row']}_seed{cell['seed']}"
        suite = json.loads((folder / "evaluation-last" / "results.json").read_text())
        assert cell["metrics"]["ece"] == pytest.approx(100 * suite["calibration"]["ece"])
        assert cell["metrics"]["gap"] == pytest.approx(
            cell["metrics"]["train_top1"] - cell["last_top1"]
        )
    for label, row in result["metrics"].items():
        seeds = [c["metrics"] for c in result["cells"] if c["row"] == label]
        for name in ("ece", "aurc", "brier", "gap"):
            values = [s[name] for s in seeds]
            assert row[name]["mean"] == pytest.approx(statistics.fmean(values))
            assert row[name]["std"] == pytest.approx(statistics.stdev(values))
        ece = f"{row['ece']['mean']:.2f} ± {row['ece']['std']:.2f}"
        assert f"| {label} | 2 |" in printed and ece in printed
    assert "ECE x10^2" in printed and "Lower is better" in printed
    header = (out / "results.csv").read_text().splitlines()[0]
    assert "ece_mean" in header and "gap_std" in header
    # Evaluations are cached next to each cell: a rerun reads them back.
    cached = {p: p.stat().st_mtime_ns for p in out.glob("*/evaluation-last/results.json")}
    assert len(cached) == 4
    assert main([*argv, "--evaluate", "calibration", "--quiet"]) == 0
    assert cached == {p: p.stat().st_mtime_ns for p in out.glob("*/evaluation-last/results.json")}


def test_unknown_evaluation_fails_before_training(capsys, recipes, tmp_path):
    out = tmp_path / "cmp"
    assert main(["compare", *recipes, "--output-dir", str(out), "--evaluate", "speed"]) == 2
    err = capsys.readouterr().err
    assert "--evaluate: evaluation 'speed' is unknown; valid: gap, calibration" in err
    assert not out.exists()


def test_results_are_replaced_atomically(tmp_path, monkeypatch):
    """A kill while results.csv is written leaves the previous file, not a torn or empty one."""
    cells = _cells(tmp_path, "hard_label", [0, 1])
    summaries = [{"best_top1": v, "last_top1": v, "last_top5": v} for v in (1.0, 2.0)]
    rows = tabulate(cells, summaries, swept=False)
    write_results(tmp_path, rows, cells, summaries, "old table\n")
    before = (tmp_path / "results.csv").read_text()
    real_replace = os.replace

    def killed(src, dst):
        if str(dst).endswith("results.csv"):
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", killed)
    summaries[0]["last_top1"] = 50.0
    with pytest.raises(KeyboardInterrupt):
        write_results(tmp_path, tabulate(cells, summaries, swept=False), cells, summaries, "new\n")
    assert (tmp_path / "results.md").read_text() == "new\n"
    assert (tmp_path / "results.csv").read_text() == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_cell_trained_under_another_default_is_not_reused(tiny_run, tmp_path):
    """The saved config holds every resolved method option, so a cell whose method default
    has since changed is refused instead of being read back as finished."""
    import yaml

    from patchswap.compare.cells import run_cell
    from patchswap.compare.grid import Cell
    from patchswap.config import dump_config
    from patchswap.engine import run_folder

    cfg = load_config(None, tiny_run("epochs=1", "method=ddgsd"))
    folder = run_folder(cfg)
    folder.mkdir(parents=True)
    saved = yaml.safe_load(dump_config(cfg))
    saved["method"]["ce_weight"] = 0.5  # what the default was before issue 11
    (folder / "config.yaml").write_text(yaml.safe_dump(saved))
    with pytest.raises(PatchswapError, match="method.ce_weight=0.5, this grid wants 0.25"):
        run_cell(Cell(row="ddgsd", recipe=tmp_path / "r.yaml", seed=0, cfg=cfg))


def test_two_jobs_give_the_sequential_grid_table(recipes, sets, tmp_path, capsys):
    """Cells in two processes at once: the same table as one after the other."""
    base = [*recipes, "--seeds", "0", "1", *sets, "--quiet"]
    assert main(["compare", *base, "--output-dir", str(tmp_path / "one")]) == 0
    assert main(["compare", *base, "--output-dir", str(tmp_path / "two"), "--jobs", "2"]) == 0
    one = (tmp_path / "one" / "results.md").read_text()
    two = (tmp_path / "two" / "results.md").read_text()
    assert one == two
    for claim in (tmp_path / "two").rglob(".claim"):  # every claim released
        with open(claim) as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_the_same_threads_give_the_same_table_with_any_jobs(recipes, sets, tmp_path):
    """A cell's floats depend on its CPU thread count; at the same --threads, one job and two
    jobs give byte-identical tables (on a machine with more cores too)."""
    base = [*recipes, "--seeds", "0", "1", *sets, "--quiet", "--threads", "1"]
    assert main(["compare", *base, "--output-dir", str(tmp_path / "one")]) == 0
    assert main(["compare", *base, "--output-dir", str(tmp_path / "two"), "--jobs", "2"]) == 0
    one = (tmp_path / "one" / "results.md").read_text()
    assert one == (tmp_path / "two" / "results.md").read_text()


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--jobs", "0"], "--jobs 0 must be a whole number >= 1"), (["--gpus", "7"], "GPU 7")],
)
def test_bad_workers_are_one_line_before_anything_trains(
    recipes, sets, tmp_path, capsys, flags, message
):
    out = tmp_path / "cmp"
    assert main(["compare", *recipes, *sets, "--output-dir", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()
