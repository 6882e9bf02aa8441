"""`patchswap study`: plan checks, verdicts, seeds, an interrupted study resumes, the page it
writes, and pages re-rendered from their results.json."""

import json
import re

import pytest

from patchswap.cli import main
from patchswap.compare import cells as compare_cells
from patchswap.errors import ConfigError
from patchswap.study import load_plan, run_study
from patchswap.study.claims import adjust, measure


def _set(key, value):
    def edit(plan):
        target = plan
        *parents, last = key
        for part in parents:
            target = target[part]
        target[last] = value

    return edit


def _dense_group(plan):
    plan["set"] = []
    plan["groups"][0] = {"name": "dense", "recipes": ["scenes/deeplabv3plus_resnet8"]}


BAD_PLANS = [
    (
        _set(["groups", 0, "recipes"], ["fashion_mnist/nope"]),
        "recipe 'fashion_mnist/nope' not found",
    ),
    (_set(["groups", 0, "set"], ["method.gird=2"]), "unknown key method.gird"),
    (_set(["seeds"], []), "must list at least 1 integer seed"),
    (_set(["claims", 0, "row"], "patchswap_x"), "names row 'patchswap_x'; rows of 'clean'"),
    (_set(["claims", 0, "group"], "noisy"), "names group 'noisy'; groups: 'clean', 'p sweep'"),
    (_set(["claims", 0, "metric"], "fgsm_0.01"), "add its evaluation to `evaluations`"),
    (_set(["claims", 0, "expect"], "more"), "expect='more' must be higher or lower"),
    (_set(["evaluations"], ["speed"]), "evaluation 'speed' is unknown; valid: gap"),
    (_set(["budget"], 3), "unknown key 'budget'"),
    (_set(["claims", 0, "against_group"], "p sweep"), "against_group needs `against`"),
    (_dense_group, "group 'dense': its seeds cannot draw a fixed segmentation set; give the group"),
    (_set(["suite"], {"eps": [0.01]}), "suite: unknown key 'eps'; valid: epsilons, test_subset"),
    (_set(["suite"], {"epsilons": [0, 0.01]}), "suite: epsilons [0.0, 0.01] lack 0.05; the tables"),
    (_set(["suite"], {"epsilons": "0.01"}), "epsilons='0.01' must be a list of numbers"),
    (_set(["suite"], {"epsilons": [0.01, 0.05, 2]}), "epsilon 2.0 is outside [0, 1]"),
    (_set(["suite"], {"test_subset": 0}), "suite: test_subset=0 must be an integer >= 1"),
    (_set(["kind"], "confirmatory"), "a confirmatory plan needs at least 8 seeds, it has 2"),
    (_set(["kind"], "pilot"), "kind='pilot' must be one of confirmatory, exploratory"),
    (_set(["vary"], ["subset"]), "vary=['subset'] must list what a seed draws: init (always)"),
    (_set(["claims", 0, "paper"], "+2.6"), "`paper:` text is replaced by `source: paper`"),
    (_set(["claims", 0, "source"], "blog"), "source='blog' must be paper or hypothesis"),
    (_set(["claims", 0, "citation"], None), "a paper claim needs its `citation:`"),
    (_set(["claims", 1, "citation"], {"table": 1}), "a hypothesis has no citation"),
    (_set(["claims", 0, "citation", "table"], 16), "the paper has no table 16 (1-15)"),
]


@pytest.mark.parametrize(("edit", "message"), BAD_PLANS)
def test_a_bad_plan_is_one_line_before_any_training(plan_file, tmp_path, capsys, edit, message):
    path = plan_file(edit)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_plan(path, tmp_path / "runs")
    assert main(["study", str(path), "--output-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "runs").exists()  # nothing trained


def _verdict(row, against, expect):
    result = measure(row, against, expect, "family")
    adjust([result], "family")
    return result


def test_verdicts_follow_sign_and_the_adjusted_p():
    assert _verdict([91.0, 91.2, 90.9], [88.0, 88.3, 87.9], "higher").verdict == "holds"
    assert _verdict([85.0, 85.2, 84.9], [88.0, 88.3, 87.9], "higher").verdict == "does not hold"
    assert _verdict([5.0, 5.1, 4.9], [9.0, 9.3, 8.8], "lower").verdict == "holds"
    noisy = _verdict([88.0, 91.0, 86.0], [88.5, 87.0, 89.0], "higher")
    assert noisy.verdict.startswith("inconclusive (could detect ±") and noisy.p_family >= 0.05
    assert _verdict([90.0], [88.0], "higher").verdict.startswith("inconclusive (too few seeds")


def test_a_claim_significant_alone_is_inconclusive_in_a_family_that_corrects_it():
    alone = _verdict([81.0, 81.6, 80.4], [79.0, 79.9, 79.3], "higher")
    assert alone.comparison.p < 0.05 and alone.verdict == "holds"
    family = [measure([81.0, 81.6, 80.4], [79.0, 79.9, 79.3], "higher", "f")]
    family += [measure([80.0, 80.1, 80.2], [80.0, 80.1, 80.3], "higher", "f") for _ in range(9)]
    adjust(family, "family")
    assert family[0].p_family > 0.05 and family[0].verdict.startswith("inconclusive")
    assert family[0].family_size == 10


def test_a_seed_draws_the_subset_and_the_noise_unless_the_plan_fixes_them(plan_file, tmp_path):
    def noisy(plan):
        plan["groups"][0]["recipes"] = [
            "fashion_mnist/noisy/hard_label_40",
            "fashion_mnist/noisy/patchswap_40",
        ]
        plan["claims"] = []
        plan.pop("vary", None)

    varied = load_plan(plan_file(noisy), tmp_path / "a").groups[0].cells
    assert [c.cfg.data.subset_seed for c in varied[:2]] == [0, 1]
    assert [c.cfg.data.label_noise.seed for c in varied[:2]] == [0, 1]

    def fixed(plan):
        noisy(plan)
        plan["vary"] = ["init"]

    same = load_plan(plan_file(fixed), tmp_path / "b").groups[0].cells
    assert {c.cfg.data.subset_seed for c in same} == {0}
    assert {c.cfg.data.label_noise.seed for c in same} == {0}
    assert [c.cfg.seed for c in same[:2]] == [0, 1]
    clean = load_plan(plan_file(), tmp_path / "c").groups[0].cells
    assert {c.cfg.data.label_noise.rate for c in clean} == {0.0}  # no noise to draw


def test_an_interrupted_study_resumes_without_retraining_and_writes_its_page(
    plan_file, tmp_path, monkeypatch
):
    plan = load_plan(plan_file(), tmp_path / "runs")
    real, calls = compare_cells.run_cell, []

    def stop_at_third(cell, quiet=False):
        calls.append(cell.cfg.name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(cell, quiet)

    monkeypatch.setattr(compare_cells, "run_cell", stop_at_third)
    with pytest.raises(KeyboardInterrupt):
        run_study(plan, tmp_path / "docs", quiet=True)
    monkeypatch.setattr(compare_cells, "run_cell", real)
    done = plan.groups[0].cells[:2]
    stamps = [(c.folder / "last.pt").stat().st_mtime_ns for c in done]

    said = []
    page = run_study(plan, tmp_path / "docs", quiet=True, say=said.append)
    assert [(c.folder / "last.pt").stat().st_mtime_ns for c in done] == stamps
    assert sum("finished earlier" in line for line in said) == 2
    assert sum(": trained" in line for line in said) == 6  # 2 more in clean, 4 in the sweep

    text = page.read_text()
    assert text.startswith("# Tiny study")
    assert f"patchswap study {plan.path.resolve().as_posix()}" in text
    assert "**Exploratory**" in text
    assert "plan not committed when it ran" in text  # its registration, as recorded
    assert "each seed draws the initialization and batch order, the training subset" in text
    for heading in ("## Claims", "## clean", "## p sweep"):
        assert heading in text
    results = json.loads((page.parent / "results.json").read_text())
    verdicts = [c["verdict"] for c in results["claims"]]
    assert len(verdicts) == 3
    assert results["claims"][1]["against"] == "patchswap (method.p=0) (p sweep)"
    assert results["evaluation_seconds"] > 0 and "evaluation suite" in text  # cached, still told
    assert all(v in ("holds", "does not hold") or v.startswith("inconclusive") for v in verdicts)
    for claim in results["claims"]:
        assert f"**{claim['verdict']}**" in text
        assert {"ci95", "p_holm_plan", "p_holm_family", "detectable_difference"} <= set(claim)
    assert results["claims"][0]["family"] == "exploratory paper claims"
    assert "Table 15 (CIFAR-100, ResNet18): Hard Label 77.92 -> Ours 80.27 (+2.35)" in text
    summary = (tmp_path / "docs" / "README.md").read_text()
    assert "| [`tiny`](tiny/README.md) | exploratory |" in summary

    # the page is a function of its results.json: re-rendered without cells, it is the same
    before = {p.name: p.read_bytes() for p in page.parent.iterdir() if p.suffix != ".png"}
    for cell in (c for g in plan.groups for c in g.cells):
        (cell.folder / "summary.json").unlink()
    assert main(["study", "--render", "--docs-dir", str(tmp_path / "docs"), "--readme", ""]) == 0
    after = {p.name: p.read_bytes() for p in page.parent.iterdir() if p.suffix != ".png"}
    assert after == before
    clean = results["groups"]["clean"]
    assert set(clean) == {"hard_label", "patchswap"}
    assert len(clean["patchswap"]["last_top1"]) == 2 and len(clean["patchswap"]["ece"]) == 2
    assert all(0 <= v <= 100 for v in clean["hard_label"]["train_top1"])
    assert set(results["groups"]["p sweep"]) == {
        "patchswap (method.p=0)",
        "patchswap (method.p=0.5)",
    }
    assert (page.parent / "accuracy.png").stat().st_size > 0
    assert (page.parent / "results.csv").read_text().startswith("group,row,metric")


def test_every_shipped_plan_parses_with_at_least_three_seeds_and_confirms_with_eight(tmp_path):
    from patchswap.recipes import configs_dir

    plans = sorted((configs_dir() / "studies").glob("*.yaml"))
    assert {p.stem for p in plans} >= {
        "noise",
        "baselines",
        "ablations",
        "regime",
        "safety",
        "augment",
    }
    for path in plans:
        plan = load_plan(path, tmp_path)
        assert len(plan.seeds) >= 3 and plan.claims, path
        if plan.kind == "confirmatory":
            assert len(plan.seeds) >= 8 and not set(plan.seeds) & {0, 1, 2}, path


def test_a_plan_without_evaluations_is_measured_by_its_accuracy(plan_file, tmp_path):
    def accuracy_only(plan):
        plan.pop("evaluations")
        plan["groups"] = plan["groups"][:1]
        plan["claims"] = plan["claims"][:1]

    plan = load_plan(plan_file(accuracy_only), tmp_path / "runs")
    page = run_study(plan, tmp_path / "docs", quiet=True, say=lambda _: None)
    results = json.loads((page.parent / "results.json").read_text())
    assert len(results["groups"]["clean"]["patchswap"]["last_top1"]) == 2
    assert results["claims"][0]["p"] is not None or results["claims"][0]["seeds"] == 2
