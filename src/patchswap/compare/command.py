"""`patchswap compare`: train a grid of recipes x seeds (x one swept option), then tabulate it.

Each cell (recipe, swept value, seed) is an ordinary run folder under the output folder, so the
grid resumes where it stopped: a finished cell is read back, an interrupted one continues from
its `last.pt`, a missing one trains. The table is the paper's, in the score of the recipes'
task (`TASK_SCORES`: top-1 and top-5, mIoU and pixel accuracy, VOC07 mAP): per row the mean
and sample standard deviation over seeds at the best and at the last epoch, the last epoch's
secondary score, the gap to the reference row and Welch's t-test against it; dense grids add
a per-class table (IoU or AP), as the paper's Tables 6, 8 and 9. Results go to `results.md`,
`results.csv` and `results.json` next to the cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..evaluation.run_metrics import metric_names, parse_evaluations
from ..infra.atomic_files import check_writable_folder
from ..parallel import Workers
from ..scores import TASK_SCORES, task_of
from .cells import run_grid
from .grid import default_output_dir, plan_grid
from .results import write_results
from .tables import Row, metrics_markdown, per_class_markdown, row_values, tabulate, to_markdown


def compare(
    recipes: Sequence[str],
    seeds: Sequence[int] = (0, 1, 2),
    sweep: str | None = None,
    overrides: Sequence[str] = (),
    output_dir: str | Path | None = None,
    quiet: bool = False,
    evaluations: Sequence[str] = (),
    workers: Workers | None = None,
) -> tuple[list[Row], str]:
    """Run (or resume) the grid and write the results; returns the rows and the table.

    `evaluations` (gap, calibration, adversarial, corruption) evaluate every cell's last
    checkpoint (cached next to it) and add their metrics, mean ± std over seeds. `workers`
    runs several cells at once (`parallel`); the tables are the same.
    """
    workers = workers or Workers()
    workers.check()
    evaluations = parse_evaluations(evaluations, "--evaluate")
    folder = Path(output_dir) if output_dir else default_output_dir(recipes, sweep)
    cells = plan_grid(list(recipes), list(seeds), sweep, list(overrides), folder)
    task = task_of(cells[0].cfg)
    if evaluations and task != "classification":
        raise ConfigError(
            f"--evaluate {','.join(evaluations)} evaluates classifiers; these are {task} "
            "recipes, scored by their table alone: drop --evaluate"
        )
    check_writable_folder(folder, "--output-dir")
    primary = TASK_SCORES[task].primary

    def progress(counter: str, index: int, summary: dict[str, Any], action: str) -> None:
        print(
            f"{counter} {cells[index].cfg.name}: {action} | best {primary} "
            f"{summary[f'best_{primary}']:.2f} last {primary} {summary[f'last_{primary}']:.2f}"
        )

    results = run_grid(cells, quiet, evaluations, workers, progress)
    summaries = [summary for summary, _, _ in results]
    rows = tabulate(cells, summaries, swept=sweep is not None)
    text = to_markdown(rows, list(seeds))
    if rows[0].scores.per_class:
        text += f"\n{per_class_markdown(rows, list(seeds))}"
    metrics = None
    if evaluations:
        metrics = [m for _, _, m in results]
        table = metrics_markdown(rows, row_values(cells, metrics), metric_names(evaluations))
        text += f"\n{table}"
    write_results(folder, rows, cells, summaries, text, metrics)
    return rows, text
