"""Finding YAML recipes and study plans: by path, or by name under the `configs/` folder
(study plans live in `configs/studies/` and are not recipes)."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

STUDIES = "studies"


def configs_dir() -> Path | None:
    """`$PATCHSWAP_CONFIGS`, else `./configs`, else the `configs/` of this source checkout."""
    candidates = [
        os.environ.get("PATCHSWAP_CONFIGS"),
        "configs",
        Path(__file__).resolve().parents[2] / "configs",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def list_recipes() -> dict[str, str]:
    """Recipe name (path under configs/, no suffix) -> its first comment line."""
    root = configs_dir()
    if root is None:
        return {}
    recipes = {}
    for path in sorted(root.rglob("*.yaml")):
        parts = path.relative_to(root).parts
        if parts[0] == STUDIES or path.parent.name == "base" or path.name.startswith("_"):
            continue
        first = path.read_text().splitlines()[:1]
        about = first[0].lstrip("# ").strip() if first and first[0].startswith("#") else ""
        recipes[str(path.relative_to(root).with_suffix(""))] = about
    return recipes


def _find_yaml(name: str, folder: str = "") -> Path | None:
    """`name` as a file path, else `configs/<folder>/<name>[.yaml]`, else None."""
    if Path(name).is_file():
        return Path(name)
    root = configs_dir()
    if root is None:
        return None
    for candidate in (root / folder / name, root / folder / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    return None


def find_recipe(name: str) -> Path:
    """A recipe path from a file path or a name such as `fashion_mnist/patchswap`."""
    path = _find_yaml(name)
    if path is None:
        raise ConfigError(
            f"recipe {name!r} not found; pass a YAML path or one of `patchswap list recipes`"
        )
    return path


def find_plan(name: str) -> Path:
    """A study plan path from a file path or a name such as `noise` (configs/studies/)."""
    path = _find_yaml(name, STUDIES)
    if path is None:
        root = configs_dir()
        plans = sorted(p.stem for p in (root / STUDIES).glob("*.yaml")) if root else []
        raise ConfigError(
            f"study plan {name!r} not found; pass a YAML path or one of: "
            f"{', '.join(plans) or 'none'}"
        )
    return path
