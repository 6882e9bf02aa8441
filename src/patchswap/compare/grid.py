"""The grid of a comparison: recipes x swept values x seeds, one `Cell` (an ordinary run
folder) each, in table order; what a seed draws (`vary`) and the checks that every cell gets a
folder of its own."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..config import RunConfig, parse_override, read_recipe
from ..dense.config import DenseRunConfig
from ..engine import run_folder
from ..errors import ConfigError
from ..methods import METHODS
from ..recipes import find_recipe
from ..runs import load_config, with_overrides
from ..scores import task_of

_RESERVED = {"seed": "--seeds", "name": "--output-dir", "output_dir": "--output-dir"}


@dataclass
class Cell:
    """One training run of the grid."""

    row: str  # the table row it belongs to
    recipe: Path
    seed: int
    cfg: RunConfig | DenseRunConfig

    @property
    def folder(self) -> Path:
        return run_folder(self.cfg)


@dataclass(frozen=True)
class Sweep:
    """Values of one option, a row each; a value may hold `{seed}` (each seed its own, e.g. the
    backbone checkpoint of its seed). `labels` name the rows (default `key=value`)."""

    key: str
    values: list[str]
    labels: list[str] | None = None

    def label(self, index: int) -> str:
        return self.labels[index] if self.labels else f"{self.key}={self.values[index]}"

    def suffix(self, index: int) -> str:
        """The cell folder's suffix for the index-th value."""
        if self.labels:
            return f"_{slug(self.labels[index])}"
        return f"_{slug(self.key.split('.')[-1])}{slug(self.values[index])}"


def parse_sweep(text: str) -> tuple[str, list[str]]:
    """`method.p=0,0.25,0.5` -> (`method.p`, ["0", "0.25", "0.5"]), each read as YAML later."""
    key, sep, raw = text.partition("=")
    values = [v.strip() for v in raw.split(",") if v.strip()] if sep else []
    if not key.strip() or not values:
        raise ConfigError(f"--sweep {text!r} must look like KEY=V1,V2,..., e.g. method.p=0,0.5")
    return key.strip(), values


def slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", str(value)).strip("-") or "x"


def _sweeps(values: dict[str, Any], key: str) -> bool:
    """Whether a swept key applies to this recipe: `method.X` only if its method has option X
    (dense recipes have no method)."""
    if not key.startswith("method."):
        return True
    if "method" not in values:
        return False
    if key == "method.name":
        return True
    option = key.split(".")[1]
    method = values["method"]["name"]
    return method in METHODS and option in {f.name for f in fields(METHODS[method].Options)}


def _check_one_task(paths: list[Path], overrides: list[str]) -> str:
    """The grid's task; one table holds one task's scores, so mixed tasks are refused (read
    from the recipes, before the overrides of one task fail on another's config)."""
    tasks = {
        path.stem: task_of(with_overrides(read_recipe(path), overrides))
        for path in paths
    }
    if len(set(tasks.values())) > 1:
        listed = ", ".join(f"{stem} ({task})" for stem, task in tasks.items())
        raise ConfigError(
            f"recipes {listed} are of different tasks; a compare tabulates one task: "
            "compare each task's recipes on their own"
        )
    return next(iter(tasks.values()))


NAME_MAX = 255  # the longest file name most file systems accept


def _check_folders(cells: list[Cell]) -> None:
    """Each cell needs a folder of its own: swept values whose slugs coincide (`a/b`, `a-b`)
    would share one, and a long value (a checkpoint path) can make a name no folder takes."""
    seen: dict[Path, Cell] = {}
    for cell in cells:
        if len(cell.folder.name.encode()) > NAME_MAX:
            raise ConfigError(
                f"cell folder name {cell.folder.name!r} is longer than {NAME_MAX} bytes; "
                "sweep shorter values (e.g. link the checkpoints into a short folder)"
            )
        other = seen.setdefault(cell.folder, cell)
        if other is not cell:
            raise ConfigError(
                f"rows {other.row!r} and {cell.row!r} would share the cell folder "
                f"{cell.folder}; sweep values that differ in letters or digits"
            )


def with_seed(overrides: Sequence[str], seed: int) -> list[str]:
    """Overrides with `{seed}` replaced by a cell's seed: each seed of a transfer grid takes
    the backbone of its own seed, e.g. model.backbone=runs/b/hard_label_seed{seed}/last.pt."""
    return [text.replace("{seed}", str(seed)) for text in overrides]


def _seed_draws(cfg: RunConfig | DenseRunConfig, vary: Sequence[str]) -> list[str]:
    """The config options a cell's seed sets, for what `vary` names beyond `init`."""
    options = []
    if "subset" in vary and hasattr(cfg.data, "subset_seed"):
        options.append("data.subset_seed")  # the held-out split is drawn from it too
    noise = getattr(cfg.data, "label_noise", None)
    if "noise" in vary and noise is not None and noise.rate > 0:
        options.append("data.label_noise.seed")
    return options


def plan_grid(
    recipes: list[str],
    seeds: list[int],
    sweep: str | Sweep | None,
    overrides: list[str],
    output_dir: Path,
    vary: Sequence[str] = ("init",),
) -> list[Cell]:
    """Every cell in table order: recipe by recipe, then swept value, then seed.

    `vary` says what a seed draws besides the initialization and batch order (`init`):
    `subset` the training subset and held-out split, `noise` the label-noise flips (in
    recipes with label noise); `compare` keeps them fixed, study plans vary all three."""
    for text in overrides:
        key = parse_override(text)[0][0]
        if key in _RESERVED:
            raise ConfigError(f"--set {text!r}: compare sets {key} itself; use {_RESERVED[key]}")
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ConfigError(f"--seeds {' '.join(map(str, seeds))} must list distinct seeds")
    if isinstance(sweep, str):
        sweep = Sweep(*parse_sweep(sweep))
    key = sweep.key if sweep else ""
    if key.split(".")[0] in _RESERVED:
        raise ConfigError(f"--sweep {key}: use {_RESERVED[key.split('.')[0]]} instead")
    paths = [find_recipe(r) for r in recipes]
    stems = [p.stem for p in paths]
    if len(set(stems)) != len(stems):
        raise ConfigError(f"recipes {recipes} share a file name; compare needs distinct names")
    task = _check_one_task(paths, overrides)
    cells: list[Cell] = []
    swept_any = False
    for path in paths:
        base = load_config(path, with_seed(overrides, seeds[0]))
        swept = bool(sweep) and _sweeps(base.to_dict(), key)
        swept_any |= swept
        drawn = _seed_draws(base, vary)
        for index in range(len(sweep.values)) if swept else [None]:
            row = f"{path.stem} ({sweep.label(index)})" if swept else path.stem
            cell_overrides = [f"{key}={sweep.values[index]}"] if swept else []
            suffix = sweep.suffix(index) if swept else ""
            for seed in seeds:
                cfg = load_config(
                    path,
                    [
                        *with_seed([*overrides, *cell_overrides], seed),
                        *(f"{option}={seed}" for option in drawn),
                        f"seed={seed}",
                        f"output_dir={output_dir}",
                        f"name={path.stem}{suffix}_seed{seed}",
                    ],
                )
                cells.append(Cell(row, path, seed, cfg))
    if sweep and not swept_any:
        dense = "" if task == "classification" else f" ({task} recipes have no method)"
        raise ConfigError(f"--sweep {key}: none of the recipes' methods has this option{dense}")
    _check_folders(cells)
    return cells


def default_output_dir(recipes: Sequence[str], sweep: str | None) -> Path:
    """`runs/compare/<recipe stems>[-<swept key>]`, stable so that rerunning resumes."""
    name = "-vs-".join(Path(r).stem for r in recipes)
    return Path("runs/compare") / (f"{name}-{parse_sweep(sweep)[0]}" if sweep else name)
