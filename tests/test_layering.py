"""Import arrows run one way. The package is drawn in layers (`LAYERS`, the map in
docs/architecture.md): a module imports its own layer or those below it, never above, and no
two modules import each other by any path, function-level imports included."""

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


# Bottom to top: the top-level module or package of `patchswap` in each layer.
LAYERS = (
    ("foundations", {"errors", "infra", "plotting", "scores", "recipes"}),
    ("method core", {"swap", "pairs", "losses", "objective", "schedules", "augment"}),
    ("schema and parts", {"config", "models", "data", "checkpoint"}),
    ("methods", {"methods", "__init__"}),
    ("training loop", {"engine"}),
    ("dense tasks", {"dense"}),
    ("run lifecycle", {"runs"}),
    ("evaluation and integrations", {"evaluation", "evaluate_checkpoint", "integrations"}),
    ("grids", {"claims", "parallel", "slurm", "compare"}),
    ("study and demo", {"study", "demo"}),
    ("commands", {"cli", "__main__"}),
)  # fmt: skip


def unit(module: str) -> str:
    """The top-level part of `patchswap` a module belongs to (`__init__` for the package)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports at any depth of its code: `from a import b`
    depends on `a.b` when that is a module, else on `a` (a name `a`'s `__init__` defines)."""
    paths = {module_name(path): path for path in ROOT.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name in paths)
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                module = ".".join(base + (node.module.split(".") if node.module else []))
                for alias in node.names:
                    sub = f"{module}.{alias.name}"
                    found.add(sub if sub in paths else module)
        graph[name] = {target for target in found if target in paths} - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles_anywhere():
    assert cycles(import_graph()) == []


def test_the_circle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_top_level_module_has_a_layer():
    placed = set().union(*(units for _, units in LAYERS))
    present = {unit(name) for name in import_graph()}
    assert present - placed == set(), "place each new module in LAYERS (and the docs map)"
    assert placed - present == set(), "LAYERS names a module that no longer exists"


def test_no_layer_imports_a_layer_above_it():
    level = {u: depth for depth, (_, units) in enumerate(LAYERS) for u in units}
    upward = sorted(
        f"{source} -> {target}"
        for source, targets in import_graph().items()
        for target in targets
        if level[unit(target)] > level[unit(source)]
    )
    assert upward == []


def test_the_docs_map_lists_every_layer():
    text = (ROOT.parents[1] / "docs" / "architecture.md").read_text()
    for name, units in LAYERS:
        line = next((ln for ln in text.splitlines() if f"| {name} |" in ln), None)
        assert line is not None, name
        assert all(f"`{u}`" in line for u in units), (name, line)


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
