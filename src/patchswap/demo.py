"""`patchswap demo`: hard label vs patch swap on Fashion-MNIST with the same model, budget and
seed, a side-by-side table and a plot of test accuracy per epoch."""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .config import load_config  # noqa: E402
from .engine import train  # noqa: E402
from .engine.run_log import read_metrics  # noqa: E402
from .outputs import atomic_write_text, check_writable_folder  # noqa: E402
from .recipes import find_recipe  # noqa: E402

DEMO_RECIPE = "fashion_mnist/demo"
DEMO_METHODS = ("hard_label", "patchswap")


def results_table(summaries: dict[str, dict]) -> str:
    """A Markdown table of the runs' best/last top-1, top-5 and wall time."""
    lines = [
        "| method | best top-1 | last top-1 | last top-5 | seconds |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, s in summaries.items():
        lines.append(
            f"| {name} | {s['best_top1']:.2f} | {s['last_top1']:.2f} | "
            f"{s['last_top5']:.2f} | {s['seconds']:.0f} |"
        )
    return "\n".join(lines)


def plot_accuracy(run_folders: dict[str, Path], path: Path) -> None:
    """Test top-1 per epoch, one line per run."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, folder in run_folders.items():
        records = [r for r in read_metrics(folder) if "test_top1" in r]  # evaluated epochs
        ax.plot(
            [r["epoch"] for r in records], [r["test_top1"] for r in records], marker="o", label=name
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("test top-1 (%)")
    ax.set_title("Fashion-MNIST: hard label vs intra-class patch swap")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_demo(output_dir: str | Path = "runs/demo", overrides: list[str] = ()) -> dict[str, dict]:
    """Train both methods into a fresh timestamped folder; print and save the comparison."""
    folder = Path(output_dir) / time.strftime("%Y%m%d-%H%M%S")
    check_writable_folder(folder, "--output-dir")
    recipe = find_recipe(DEMO_RECIPE)
    summaries, run_folders = {}, {}
    for method in DEMO_METHODS:
        # The recipe configures patch swap; hard label replaces the whole method block.
        switch = ["method=hard_label"] if method == "hard_label" else []
        cfg = load_config(recipe, [*overrides, *switch, f"output_dir={folder}", f"name={method}"])
        print(f"\n== {method} ==", flush=True)
        summaries[method] = train(cfg)
        run_folders[method] = folder / method
    table = results_table(summaries)
    plot_accuracy(run_folders, folder / "accuracy.png")
    atomic_write_text(folder / "results.md", table + "\n")
    print(f"\n{table}\n\nplot: {folder / 'accuracy.png'}\nruns: {folder}")
    return summaries
