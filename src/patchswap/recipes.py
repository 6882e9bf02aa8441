"""Finding YAML recipes and study plans: by path, or by name in the recipe folders.

Names are looked up in `$PATCHSWAP_CONFIGS` (a user's own folder), then `./configs`, then the
recipes shipped inside the package (`patchswap/configs/`, read with `importlib.resources`, so
an installed wheel has them too); the first folder holding a name wins. Study plans live in
each folder's `studies/` and are not recipes.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from .errors import ConfigError

STUDIES = "studies"


def packaged_configs() -> Path:
    """The recipes and plans shipped with the package."""
    # pip installs packages as folders, so the resource is a real path (no zip extraction)
    return Path(str(resources.files("patchswap") / "configs"))


def config_dirs() -> list[Path]:
    """The recipe folders in lookup order: `$PATCHSWAP_CONFIGS`, `./configs`, the package's."""
    candidates = [os.environ.get("PATCHSWAP_CONFIGS"), "configs", packaged_configs()]
    found: list[Path] = []
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            path = Path(candidate).resolve()
            if path not in found:
                found.append(path)
    return found


def configs_dir() -> Path:
    """The shipped recipe folder (tests and docs enumerate the package's own recipes here)."""
    return packaged_configs()


def first_comment(path: Path) -> str:
    """A YAML file's first line when it is a comment: what the recipe or plan is for."""
    first = path.read_text().splitlines()[:1]
    return first[0].lstrip("# ").strip() if first and first[0].startswith("#") else ""


def _recipes_in(root: Path) -> dict[str, str]:
    recipes = {}
    for path in sorted(root.rglob("*.yaml")):
        parts = path.relative_to(root).parts
        if parts[0] == STUDIES or path.parent.name == "base" or path.name.startswith("_"):
            continue
        recipes[str(path.relative_to(root).with_suffix(""))] = first_comment(path)
    return recipes


def list_recipes() -> dict[str, str]:
    """Recipe name (path under a recipe folder, no suffix) -> its first comment line; a name in
    an earlier folder hides the same name in a later one."""
    recipes: dict[str, str] = {}
    for root in reversed(config_dirs()):
        recipes.update(_recipes_in(root))
    return dict(sorted(recipes.items()))


def list_plans() -> list[str]:
    """Study plan names across the recipe folders."""
    return sorted({p.stem for root in config_dirs() for p in (root / STUDIES).glob("*.yaml")})


def _find_yaml(name: str, folder: str = "") -> Path | None:
    """`name` as a file path, else `<recipe folder>/<folder>/<name>[.yaml]`, else None."""
    if Path(name).is_file():
        return Path(name)
    for root in config_dirs():
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
    """A study plan path from a file path or a name such as `noise` (`studies/`)."""
    path = _find_yaml(name, STUDIES)
    if path is None:
        raise ConfigError(
            f"study plan {name!r} not found; pass a YAML path or one of: "
            f"{', '.join(list_plans()) or 'none'}"
        )
    return path
