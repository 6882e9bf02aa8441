"""`patchswap demo`: hard label vs patch swap on Fashion-MNIST with the same model, budget and
seed, a side-by-side table and a plot of test accuracy per epoch.

The recipe (fashion_mnist/demo) is the study's clearest contrast: 40% noisy labels, no
augmentation, a long run on little data, where cross-entropy memorizes the wrong labels
(docs/study/no_augment). Besides accuracy the table shows the train/test gap (train top-1 on
the labels as trained, noisy ones included) and calibration: ECE and the temperature fitted on
held-out training images (below 1: underconfident, above 1: overconfident)."""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .config import RunConfig  # noqa: E402
from .engine.run_log import read_metrics  # noqa: E402
from .evaluation.run_metrics import run_metrics  # noqa: E402
from .infra.atomic_files import atomic_write_text, check_writable_folder  # noqa: E402
from .plotting import fit_titles  # noqa: E402
from .recipes import find_recipe  # noqa: E402
from .runs import load_config, train  # noqa: E402

DEMO_RECIPE = "fashion_mnist/demo"
DEMO_METHODS = ("hard_label", "patchswap")
DEMO_EVALUATIONS = ("gap", "calibration")
COLUMNS = {  # metric: column head
    "last_top1": "last top-1",
    "best_top1": "best top-1",
    "train_top1": "train top-1",
    "gap": "train-test gap",
    "ece": "ECE x10^2",
    "temperature": "fitted T",
    "seconds": "seconds",
}


def results_table(results: dict[str, dict[str, float]]) -> str:
    """A Markdown table of each run's accuracy, gap, calibration and training seconds."""
    lines = ["| method | " + " | ".join(COLUMNS.values()) + " |", "|---|" + "---:|" * len(COLUMNS)]
    for name, r in results.items():
        cells = [f"{r[k]:.0f}" if k == "seconds" else f"{r[k]:.2f}" for k in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_accuracy(run_folders: dict[str, Path], path: Path, title: str) -> Figure:
    """Test top-1 per epoch, one line per run; the title wraps to fit. Returns the (closed)
    figure."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, folder in run_folders.items():
        records = [r for r in read_metrics(folder) if "test_top1" in r]  # evaluated epochs
        ax.plot(
            [r["epoch"] for r in records], [r["test_top1"] for r in records], marker="o", label=name
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("test top-1 (%), full test set")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fit_titles(fig)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return fig


def _title(cfg: RunConfig) -> str:
    """What the demo compares, from its resolved config (so `--set` changes show)."""
    data = cfg.data
    noise = f"{data.label_noise.rate:.0%} noisy labels" if data.label_noise.rate else "clean labels"
    augment = "crop + flip" if data.augment else "no augmentation"
    per_class = f"{data.samples_per_class}/class" if data.samples_per_class else "all images"
    return f"{data.name}, {noise}, {per_class}, {augment}, {cfg.epochs} epochs"


def run_demo(output_dir: str | Path = "runs/demo", overrides: list[str] = ()) -> dict[str, dict]:
    """Train both methods into a fresh timestamped folder; print and save the comparison."""
    folder = Path(output_dir) / time.strftime("%Y%m%d-%H%M%S")
    check_writable_folder(folder, "--output-dir")
    recipe = find_recipe(DEMO_RECIPE)
    results, run_folders = {}, {}
    for method in DEMO_METHODS:
        # The recipe configures patch swap; hard label replaces the whole method block.
        switch = ["method=hard_label"] if method == "hard_label" else []
        cfg = load_config(recipe, [*overrides, *switch, f"output_dir={folder}", f"name={method}"])
        print(f"\n== {method} ==", flush=True)
        summary = train(cfg)
        run_folders[method] = folder / method
        measured = run_metrics(run_folders[method], summary, DEMO_EVALUATIONS, say=print)
        results[method] = {**measured, "seconds": summary["seconds"]}
    title, table = _title(cfg), results_table(results)
    plot_accuracy(run_folders, folder / "accuracy.png", title)
    atomic_write_text(folder / "results.md", f"{title}\n\n{table}\n")
    print(
        f"\n{title}\n{table}\n\ntrain-test gap: top-1 on the un-augmented training images "
        "(their labels as trained) minus test; fitted T: the softmax temperature that "
        "calibrates best, fitted on held-out training images (below 1: underconfident, above "
        f"1: overconfident)\nplot: {folder / 'accuracy.png'}; "
        f"reliability diagrams: {folder}/<method>/evaluation-last/\nruns: {folder}"
    )
    return results
