"""A study's page: `docs/study/<plan>/README.md` with the claims' verdicts and paper-style
tables (mean ± sample std over seeds, gap to the reference row, Welch's p), plus
`results.json`, `results.csv` and `accuracy.png`, all written from the measured values."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..compare import (  # noqa: E402
    Cell,
    Row,
    mean_std,
    metrics_markdown,
    pm_text,
    row_values,
    tabulate,
    welch_p,
)
from ..evaluation.run_metrics import LABELS, SUITE_EVALUATIONS  # noqa: E402
from ..outputs import atomic_write_text  # noqa: E402
from .claims import judge  # noqa: E402
from .plan import Plan  # noqa: E402

Measured = dict[str, list[tuple[Cell, dict[str, Any], dict[str, float]]]]


def _pm(values: list[float]) -> str:
    return pm_text(*mean_std(values))


def _p(p: float | None) -> str:
    return "-" if p is None else f"{p:.3g}"


def _plot(plan: Plan, tables: dict[str, tuple[list[Row], dict]], path: Path) -> None:
    """Last-epoch top-1 per row, one panel per group, each zoomed to its own range."""
    fig, axes = plt.subplots(1, len(tables), figsize=(3.2 * len(tables) + 1, 3.8), squeeze=False)
    for ax, (name, (rows, values)) in zip(axes[0], tables.items()):
        stats = [mean_std(values[r.label]["last_top1"]) for r in rows]
        means, stds = [m for m, _ in stats], [s or 0.0 for _, s in stats]
        ax.bar(
            range(len(rows)),
            means,
            yerr=stds,
            color=["0.6" if r.reference else "tab:blue" for r in rows],
            capsize=3,
        )
        low = min(m - 3 * s for m, s in zip(means, stds))
        high = max(m + 3 * s for m, s in zip(means, stds))
        ax.set_ylim(max(0.0, low - 2), min(100.0, high + 2))
        ax.set_xticks(range(len(rows)), [r.label for r in rows], rotation=35, ha="right")
        ax.set_title(name, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("last-epoch test top-1 (%)")
    fig.suptitle(f"{plan.title}\nmean ± std over seeds; grey = reference row", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_study(
    plan: Plan,
    measured: Measured,
    folder: Path,
    invocation_seconds: float,
    evaluation_seconds: float = 0.0,
) -> Path:
    """Write README.md, results.json, results.csv and accuracy.png of a finished plan;
    `evaluation_seconds`: the evaluation suite's time over the cells, when it ran."""
    folder.mkdir(parents=True, exist_ok=True)
    tables: dict[str, tuple[list[Row], dict]] = {}
    for group in plan.groups:
        cells, summaries, metrics = zip(*measured[group.name])
        rows = tabulate(list(cells), list(summaries), bool(group.sweep))
        tables[group.name] = (rows, row_values(list(cells), list(metrics)))

    claims = []
    for claim in plan.claims:
        rows, values = tables[claim.group]
        against = claim.against or next((r.label for r in rows if r.reference), None)
        other = tables[claim.against_group or claim.group][1]
        mine, ref = values[claim.row][claim.metric], other[against][claim.metric]
        if claim.against_group:
            against = f"{against} ({claim.against_group})"
        verdict = judge(mine, ref, claim.expect)
        claims.append((claim, against, mine, ref, verdict))

    training = sum(s["seconds"] for m in measured.values() for _, s, _ in m)
    command = f"patchswap study {plan.path.as_posix()}"
    suite_time = (
        f", evaluation suite {evaluation_seconds / 60:.1f} min" if evaluation_seconds else ""
    )
    lines = [f"# {plan.title}", ""]
    if plan.about:
        lines += [plan.about, ""]
    lines += [
        f"Produced by `{command}` (cells under `runs/study/{plan.name}/`; finished cells are "
        "reused, so rerunning rewrites this page from the same runs). Budget, fixed in the plan "
        f"before the run: `{' '.join(plan.overrides) or 'the recipes as they are'}`; seeds "
        f"{', '.join(map(str, plan.seeds))}. Training time {training / 60:.1f} min on this "
        f"machine (sum over cells){suite_time}; this invocation {invocation_seconds / 60:.1f} "
        "min.",
        "",
        "Primary metric: **last-epoch** top-1 on the full test set (best-epoch top-1 picks an "
        "epoch on the test set and is optimistic; it is shown as secondary). Mean ± sample std "
        "over seeds; Δ and p (Welch's t-test) against the group's reference row.",
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
        lines += [
            "## Claims",
            "",
            "| claim | paper | ours | p | seeds | verdict |",
            "|---|---|---|---:|---:|---|",
        ]
        for claim, against, mine, ref, v in claims:
            unit = LABELS[claim.metric]
            ours = f"{v.difference:+.2f} {unit} ({claim.row} {_pm(mine)} vs {against} {_pm(ref)})"
            lines.append(
                f"| {claim.claim} | {claim.paper} | {ours} | {_p(v.p)} | {v.seeds} | "
                f"**{v.verdict}** |"
            )
        lines += [
            "",
            "Verdicts: `holds` when the difference has the claimed sign and p < 0.05, `does not "
            "hold` when it has the other sign and p < 0.05, otherwise inconclusive.",
            "",
        ]
    for name, (rows, values) in tables.items():
        lines += [f"## {name}", "", metrics_markdown(rows, values, plan.metrics)]
    lines += ["![last-epoch top-1 per row](accuracy.png)", ""]
    _plot(plan, tables, folder / "accuracy.png")
    atomic_write_text(folder / "README.md", "\n".join(lines))

    payload = {
        "plan": plan.name,
        "title": plan.title,
        "command": command,
        "seeds": plan.seeds,
        "set": plan.overrides,
        "training_seconds": training,
        "evaluation_seconds": evaluation_seconds,
        "invocation_seconds": invocation_seconds,
        "groups": {
            name: {row: metrics for row, metrics in values.items()}
            for name, (_, values) in tables.items()
        },
        "claims": [
            {
                "claim": c.claim,
                "paper": c.paper,
                "row": c.row,
                "against": against,
                "metric": c.metric,
                "expect": c.expect,
                "difference": v.difference,
                "p": v.p,
                "seeds": v.seeds,
                "verdict": v.verdict,
            }
            for c, against, _, _, v in claims
        ],
    }
    atomic_write_text(folder / "results.json", json.dumps(payload, indent=2) + "\n")
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
    atomic_write_text(folder / "results.csv", table.getvalue())
    return folder / "README.md"
