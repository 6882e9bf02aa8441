"""Finding YAML recipes: by path, or by name under the `configs/` folder."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError


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
        if path.parent.name == "base" or path.name.startswith("_"):
            continue
        first = path.read_text().splitlines()[:1]
        about = first[0].lstrip("# ").strip() if first and first[0].startswith("#") else ""
        recipes[str(path.relative_to(root).with_suffix(""))] = about
    return recipes


def find_recipe(name: str) -> Path:
    """A recipe path from a file path or a name such as `fashion_mnist/patchswap`."""
    path = Path(name)
    if path.is_file():
        return path
    root = configs_dir()
    if root is not None:
        for candidate in (root / name, root / f"{name}.yaml"):
            if candidate.is_file():
                return candidate
    raise ConfigError(
        f"recipe {name!r} not found; pass a YAML path or one of `patchswap list recipes`"
    )
