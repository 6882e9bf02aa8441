"""A study's page: `docs/study/<plan>/README.md` with the claims' verdicts and paper-style
tables, plus `results.json`, `results.csv` and `accuracy.png`.

The page is a function of the plan and the per-seed values in its `results.json`, so every
published page can be re-rendered without retraining (`patchswap study --render`), and the
study-wide corrections (`claims.adjust`) are recomputed over all pages at once.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..compare.grid import Cell  # noqa: E402
from ..compare.stats import mean_std, welch_p  # noqa: E402
from ..compare.tables import Row, RowValues, metrics_markdown, pm_text, tabulate, to_markdown
from ..errors import ConfigError  # noqa: E402
from ..evaluation.metric_table import LABELS  # noqa: E402
from ..evaluation.run_metrics import SUITE_EVALUATIONS  # noqa: E402
from ..infra.atomic_files import atomic_write_text  # noqa: E402
from ..plotting import fit_titles  # noqa: E402
from ..recipes import find_plan  # noqa: E402
from ..scores import TASK_SCORES, score_label  # noqa: E402
from . import rule  # noqa: E402
from .claims import ClaimResult, family_of, measure  # noqa: E402
from .plan import SCENE_SPLITS, Claim, Group, Plan  # noqa: E402
from .registration import Registration  # noqa: E402

Tables = dict[str, tuple[list[Row], RowValues]]
Measured = dict[str, list[tuple[Cell, dict[str, Any], dict[str, float]]]]

SEEDS_DRAW = {
    "init": "the initialization and batch order",
    "subset": "the training subset and held-out split",
    "noise": "the label-noise flips",
}


@dataclass
class MeasuredClaim:
    claim: Claim
    against: str  # the row it is measured against, as the page names it
    mine: list[float]
    reference: list[float]
    result: ClaimResult


def _p(p: float | None) -> str:
    return "-" if p is None else f"{p:.3g}"


def tables_from_cells(plan: Plan, measured: Measured) -> Tables:
    """The plan's tables from freshly run cells (their summaries and metrics)."""
    tables: Tables = {}
    for group in plan.groups:
        values: RowValues = {}
        for cell, _, metrics in measured[group.name]:
            for key, value in metrics.items():
                values.setdefault(cell.row, {}).setdefault(key, []).append(value)
        tables[group.name] = (_rows(group.cells, values, bool(group.sweep)), values)
    return tables


def tables_from_values(plan: Plan, groups: dict[str, RowValues]) -> Tables:
    """The plan's tables from the per-seed values a results.json holds (no cell needed)."""
    return {
        g.name: (_rows(g.cells, groups[g.name], bool(g.sweep)), groups[g.name]) for g in plan.groups
    }


def _rows(cells: list[Cell], values: RowValues, swept: bool) -> list[Row]:
    """`compare`'s rows, from each cell's seed-th value of its row."""
    seen: dict[str, int] = {}
    summaries = []
    for cell in cells:
        index = seen[cell.row] = seen.get(cell.row, -1) + 1
        summaries.append({key: series[index] for key, series in values[cell.row].items()})
    return tabulate(cells, summaries, swept)


def measure_claims(plan: Plan, tables: Tables) -> list[MeasuredClaim]:
    """Each claim's comparison; its p-values are adjusted afterwards over the whole study."""
    out = []
    for claim in plan.claims:
        rows, values = tables[claim.group]
        against = claim.against or next((r.label for r in rows if r.reference), "")
        other = tables[claim.against_group or claim.group][1]
        mine, ref = values[claim.row][claim.metric], other[against][claim.metric]
        if claim.against_group:
            against = f"{against} ({claim.against_group})"
        family = family_of(plan.kind, plan.name, claim.source)
        out.append(
            MeasuredClaim(claim, against, mine, ref, measure(mine, ref, claim.expect, family))
        )
    return out


def _claim_lines(plan: Plan, claims: list[MeasuredClaim]) -> list[str]:
    lines = [
        "## Claims",
        "",
        "| claim | source | ours: Δ [95% CI] | p | Holm p (plan) | Holm p (family) | "
        "detectable Δ (80%, α/m) | seeds | verdict |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    families: dict[str, int] = {}
    for m in claims:
        c, r = m.result.comparison, m.result
        families[r.family] = r.family_size
        interval = f"[{c.interval[0]:+.2f}, {c.interval[1]:+.2f}]" if c.interval else "[-]"
        ours = (
            f"{c.difference:+.2f} {interval} {metric_label(m.claim.metric)} ({m.claim.row} "
            f"{pm_text(*mean_std(m.mine))} vs {m.against} {pm_text(*mean_std(m.reference))})"
        )
        could = r.detectable_family
        detectable = "-" if could is None else f"{could:.2f}"
        verdict = f"{'exploratory: ' if plan.kind == 'exploratory' else ''}**{r.verdict}**"
        lines.append(
            f"| {m.claim.claim} | {m.claim.quoted} | {ours} | {_p(c.p)} | {_p(r.p_plan)} | "
            f"{_p(r.p_family)} | {detectable} | {c.seeds} | {verdict} |"
        )
    named = "; ".join(f"{name}: {size} tests" for name, size in families.items())
    lines += [
        "",
        "Δ: difference of means (row minus reference) with its 95% Welch confidence interval; "
        "p: Welch's two-sided t-test; Holm p (plan): adjusted over this plan's claims of the "
        f"same source; Holm p (family): adjusted over the claim's whole family ({named}). The "
        "verdict is on the family's adjusted p: `holds` when Δ has the claimed sign and it is "
        "below 0.05, `does not hold` when Δ has the other sign and it is below 0.05, otherwise "
        "inconclusive. Detectable Δ: the smallest difference this many seeds with these stds "
        "would find with 80% power at the family's Bonferroni level 0.05 / m (m tests), so one "
        "that would survive the correction; an inconclusive claim cannot rule out effects "
        "smaller than that.",
        "",
    ]
    return lines


def metric_label(key: str) -> str:
    """A measured key as the page names it: an evaluation's label, or a task score's."""
    return LABELS.get(key) or score_label(key)


def _plot(plan: Plan, tables: Tables, path: Path) -> plt.Figure:
    """Each group's primary score per row (last-epoch top-1, mIoU or mAP), one panel per group:
    bars of the mean, a dot per seed; each panel zoomed to its own range, the truncation
    marked."""
    fig, axes = plt.subplots(1, len(tables), figsize=(3.2 * len(tables) + 1, 4.2), squeeze=False)
    for ax, (name, (rows, values)) in zip(axes[0], tables.items()):
        primary = TASK_SCORES[rows[0].task].primary
        series = [values[r.label][f"last_{primary}"] for r in rows]
        means = [mean_std(s)[0] for s in series]
        ax.bar(
            range(len(rows)),
            means,
            color=["0.75" if r.reference else "tab:blue" for r in rows],
            alpha=0.8,
        )
        for x, seeds in enumerate(series):
            offsets = [
                (i - (len(seeds) - 1) / 2) * 0.5 / max(len(seeds), 1) for i in range(len(seeds))
            ]
            ax.plot([x + o for o in offsets], seeds, "o", color="black", markersize=3)
        low = min(min(s) for s in series)
        high = max(max(s) for s in series)
        bottom = max(0.0, low - max(2.0, 0.3 * (high - low)))
        ax.set_ylim(bottom, min(100.0, high + 2))
        if bottom > 0:  # a zoomed axis: say so, and draw the break on the y axis
            ax.plot([-0.02, 0.02], [0.01, 0.04], transform=ax.transAxes, color="k", clip_on=False)
            ax.plot([-0.02, 0.02], [0.04, 0.07], transform=ax.transAxes, color="k", clip_on=False)
            ax.text(0.98, 0.02, f"axis starts at {bottom:.3g}", transform=ax.transAxes,
                    ha="right", va="bottom", fontsize=7, color="0.3")  # fmt: skip
        labels = [r.label.replace(" (", "\n(") for r in rows]  # a swept value on a line of its own
        ax.set_xticks(range(len(rows)), labels, rotation=35, ha="right")
        ax.set_title(name, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        if ax is axes[0][0] or rows[0].task != first_task(tables):
            ax.set_ylabel(f"last-epoch test {TASK_SCORES[rows[0].task].primary_name} (%)")
    fig.suptitle(f"{plan.title}\nbars: mean; dots: one per seed; grey: reference row", fontsize=9)
    fit_titles(fig)
    fig.savefig(path, dpi=120)
    return fig


def first_task(tables: Tables) -> str:
    return next(iter(tables.values()))[0][0].task


def _csv(tables: Tables) -> str:
    table = io.StringIO(newline="")
    writer = csv.writer(table)
    writer.writerow(["group", "row", "metric", "seeds", "mean", "std", "p_vs_reference"])
    for name, (rows, values) in tables.items():
        reference = next((r.label for r in rows if r.reference), None)
        for row in rows:
            for metric, series in values[row.label].items():
                mean, std = mean_std(series)
                p = None
                if reference and row.label != reference:
                    p = welch_p(series, values[reference][metric])
                writer.writerow([name, row.label, metric, len(series), mean, std, p])
    return table.getvalue()


def plan_reference(plan: Plan) -> str:
    """How `patchswap study` finds the plan again: its name when that resolves to this file,
    else its path (a user's own plan outside the recipe folders)."""
    try:
        if find_plan(plan.name).resolve() == Path(plan.path).resolve():
            return plan.name
    except ConfigError:
        pass
    return Path(plan.path).resolve().as_posix()


def raw_record(
    plan: Plan, tables: Tables, timing: dict[str, float], registration: Registration
) -> dict[str, Any]:
    """What a run leaves in results.json before the study renders it: the per-seed values."""
    return {
        "plan": plan.name,
        "title": plan.title,
        "kind": plan.kind,
        "vary": list(plan.vary),
        "registration": asdict(registration),
        "plan_file": plan_reference(plan),
        "command": f"patchswap study {plan_reference(plan)}",
        "seeds": plan.seeds,
        "set": plan.overrides,
        **timing,
        "groups": {name: values for name, (_, values) in tables.items()},
    }


def write_page(
    plan: Plan, record: dict[str, Any], tables: Tables, claims: list[MeasuredClaim], folder: Path
) -> Path:
    """README.md, results.json (with the claims), results.csv and accuracy.png of a plan."""
    folder.mkdir(parents=True, exist_ok=True)
    registration = Registration(**record["registration"])
    training = record["training_seconds"]
    evaluation = record.get("evaluation_seconds", 0.0)
    dense = any(g.task != "classification" for g in plan.groups)  # transfer groups
    drawn = ", ".join(SEEDS_DRAW[v] for v in plan.vary)
    if "subset" in plan.vary and any(g.scenes for g in plan.groups):
        drawn += ", the transfer groups' scenes"
    fixed = [SEEDS_DRAW[v] for v in SEEDS_DRAW if v not in plan.vary]
    lines = [f"# {plan.title}", ""]
    if plan.about:
        lines += [plan.about, ""]
    kind = (
        "**Exploratory**: its verdicts are hypotheses for a confirmatory plan, not findings."
        if plan.kind == "exploratory"
        else "**Confirmatory**: committed before it ran, its claims corrected as one family."
    )
    lines += [
        kind,
        "",
        f"Produced by `{record['command']}` (cells under `runs/study/{plan.name}/`; finished "
        "cells are reused, and `patchswap study --render` rewrites this page from its "
        f"results.json). Pre-registration: {registration.text()}. Budget: "
        f"`{' '.join(plan.overrides) or 'the recipes as they are'}`"
        + (" (and each group's below)" if any(g.overrides for g in plan.groups) else "")
        + f"; seeds {', '.join(map(str, plan.seeds))}; each seed draws {drawn}"
        + (f" ({' and '.join(fixed)} fixed for every seed)" if fixed else "")
        + f". Training time {training / 60:.1f} min on this machine (sum over cells)"
        + (f", evaluation suite {evaluation / 60:.1f} min" if evaluation else "")
        + ".",
        "",
        "Primary metric: **last-epoch** top-1 on the full test set (best-epoch top-1 picks an "
        "epoch on the test set and is optimistic; it is shown as secondary). Mean ± sample std "
        "over seeds; Δ and p (Welch's t-test) against the group's reference row."
        + (
            " Transfer groups: last-epoch mIoU (segmentation) or VOC07 11-point mAP (detection)"
            " on their test scenes, best-epoch secondary as above."
            if dense
            else ""
        ),
        "",
    ]
    if set(plan.evaluations) & set(SUITE_EVALUATIONS):
        images = plan.suite.test_subset
        lines += [
            f"The evaluation suite (calibration, attacks, corruptions) sees "
            f"{f'the first {images} test images' if images else 'the full test set'} of each "
            f"cell's last checkpoint; attack epsilons {list(plan.suite.epsilons)}.",
            "",
        ]
    if claims:
        lines += _claim_lines(plan, claims)
    if plan.analysis is not None:
        fits = rule.fit(plan.analysis, {name: values for name, (_, values) in tables.items()})
        lines += rule.lines(plan.analysis, fits)
        plt.close(rule.plot(plan.analysis, fits, list(tables), folder / "rule.png"))
        record = {**record, "analysis": [f.record() for f in fits]}
    sets = {group.name: group.overrides for group in plan.groups}
    for group in plan.groups:
        rows, values = tables[group.name]
        budget = [f"Group budget: `{' '.join(sets[group.name])}`.", ""] if sets[group.name] else []
        lines += [f"## {group.name}", "", *budget, *_dense_setup(group)]
        if group.task == "classification":
            lines.append(metrics_markdown(rows, values, plan.metrics))
        else:
            lines.append(to_markdown(rows, plan.seeds))
    score = "each group's last-epoch score" if dense else "last-epoch top-1"
    lines += [f"![{score} per row: bars the mean, dots the seeds](accuracy.png)", ""]
    plt.close(_plot(plan, tables, folder / "accuracy.png"))
    atomic_write_text(folder / "README.md", "\n".join(lines))
    record = {**record, "claims": [_claim_record(m) for m in claims]}
    atomic_write_text(folder / "results.json", json.dumps(record, indent=2) + "\n")
    atomic_write_text(folder / "results.csv", _csv(tables))
    return folder / "README.md"


def _dense_setup(group: Group) -> list[str]:
    """What a transfer group trains on: whose backbones, which scenes."""
    lines = []
    if group.backbones:
        lines.append(
            f"Each row's head starts from the last checkpoint of group `{group.backbones}`'s "
            "row of the same seed (`model.weights`); the first row is the reference."
        )
    if group.scenes:
        counts = ", ".join(
            f"{group.scenes[split]} {split}" for split in SCENE_SPLITS if group.scenes[split]
        )
        per_seed = len({c.cfg.data.root for c in group.cells}) > 1
        lines.append(
            f"Fashion-MNIST scenes ({counts}) written by the study, "
            + ("one set per seed (the seed draws them)." if per_seed else "one set for all seeds.")
        )
    return [" ".join(lines), ""] if lines else []


def _claim_record(m: MeasuredClaim) -> dict[str, Any]:
    c, r = m.result.comparison, m.result
    return {
        "claim": m.claim.claim,
        "source": m.claim.source,
        "citation": None if m.claim.citation is None else asdict(m.claim.citation),
        "quoted": m.claim.quoted,
        "row": m.claim.row,
        "against": m.against,
        "metric": m.claim.metric,
        "expect": m.claim.expect,
        "difference": c.difference,
        "ci95": list(c.interval) if c.interval else None,
        "p": c.p,
        "p_holm_plan": r.p_plan,
        "p_holm_family": r.p_family,
        "family": r.family,
        "family_size": r.family_size,
        "detectable_difference": r.detectable_family,  # at alpha / family size
        "detectable_difference_uncorrected": c.detectable,
        "seeds": c.seeds,
        "verdict": r.verdict,
    }
