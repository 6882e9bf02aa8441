"""Compare recipes as the paper's tables do, one job per module:

- `grid`: the cells (recipes x swept values x seeds) and what a seed draws;
- `cells`: training, resuming or reading back each cell, several at once (`parallel`);
- `stats`: Welch's test and interval, Holm's correction, the detectable effect (the study's too);
- `tables`: the rows and their Markdown tables; `results`: results.md/.csv/.json;
- `command`: `patchswap compare` itself (`compare`).
"""

from .command import compare
from .grid import default_output_dir

__all__ = ["compare", "default_output_dir"]
