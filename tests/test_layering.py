"""Import arrows run one way: evaluation may import the engine, the engine never evaluation,
and the checkpoint schema is a leaf that methods, engine and evaluation all import."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import patchswap

ROOT = Path(patchswap.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of its code, relative imports resolved."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + (node.module.split(".") if node.module else []))
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).glob("*.py"))


def test_resolves_relative_imports():
    assert "patchswap.evaluation.accuracy" not in imported(ROOT / "engine" / "trainer.py")
    assert "patchswap.engine.accuracy" in imported(ROOT / "evaluation" / "suite.py")
    assert "patchswap.checkpoint" in imported(ROOT / "engine" / "trainer.py")


@pytest.mark.parametrize("path", modules("engine"), ids=lambda p: p.stem)
def test_no_engine_module_imports_evaluation(path):
    found = sorted(n for n in imported(path) if n.split(".")[:2] == ["patchswap", "evaluation"])
    assert not found, f"{module_name(path)} imports {found}"


def test_the_checkpoint_schema_is_a_leaf():
    above = {"engine", "evaluation", "methods", "compare", "cli", "study"}
    names = imported(ROOT / "checkpoint.py")
    assert not [n for n in names if n.startswith("patchswap.") and n.split(".")[1] in above]


@pytest.mark.parametrize(
    "path", modules("engine") + modules("evaluation"), ids=lambda p: module_name(p)
)
def test_every_engine_and_evaluation_module_imports(path):
    importlib.import_module(module_name(path))
