"""The documentation site: `mkdocs build --strict` passes (CI runs it here, offline), and the
generated references (docs/hooks/reference.py) name every command, option, recipe and plan."""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from patchswap.cli import build_parser
from patchswap.recipes import list_plans, list_recipes

REPO = Path(__file__).resolve().parents[1]
HOOK = REPO / "docs" / "hooks" / "reference.py"


def load_hook():
    spec = importlib.util.spec_from_file_location("docs_reference_hook", HOOK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def hook():
    return load_hook()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site as `mkdocs build --strict` writes it (about 10 s)."""
    folder = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's banner, not a warning
    env.pop("PATCHSWAP_CONFIGS", None)
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, f"mkdocs build --strict failed:\n{built.stderr[-6000:]}"
    return folder


def page_text(site: Path, page: str) -> str:
    """A built page's text, tags and entities removed."""
    raw = (site / page / "index.html").read_text()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", raw)).replace("&amp;", "&")


def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices)


def every_option(parser: argparse.ArgumentParser) -> list[str]:
    found = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
            continue
        found += action.option_strings or [action.metavar or action.dest]
    return found


def test_mkdocs_build_strict_passes(site):
    for page in (
        "index.html",
        "method/index.html",
        "guides/trainer/index.html",
        "study/index.html",
        "study/no_augment/index.html",
        "transfer/index.html",
    ):
        assert (site / page).is_file(), page  # fmt: skip
    for page in ("reference/api", "reference/cli", "reference/recipes"):
        assert (site / page / "index.html").is_file(), page
    assert not list(site.rglob("*.py")), "the hooks and scripts under docs/ are not published"


def test_the_api_reference_documents_every_public_name(site):
    import patchswap

    html = (site / "reference" / "api" / "index.html").read_text()
    for name in [*patchswap.__all__, "methods.base.Method", "runs.train"]:
        assert f'id="patchswap.{name}"' in html, name
    for module in ("metrics", "attacks", "corruptions"):
        assert f'id="patchswap.evaluation.{module}"' in html, module


def test_the_cli_reference_names_every_command_and_option(hook, site):
    parser = build_parser()
    generated = hook.cli_page()
    built = page_text(site, "reference/cli")
    for name, sub in commands(parser).items():
        assert f"## patchswap {name}\n" in generated, name
        assert f"patchswap {name}" in built, name
        section = generated.split(f"## patchswap {name}\n", 1)[1].split("\n## ", 1)[0]
        for option in every_option(sub):
            assert f"`{option}`" in section, f"patchswap {name} {option}"
            assert option in built, f"patchswap {name} {option}"
        for action in sub._actions:
            for choice in action.choices or ():
                assert f"`{choice}`" in section, f"patchswap {name} {action.dest}={choice}"
    for option in every_option(parser):
        assert f"`{option}`" in generated.split("\n## ", 1)[0], option


def test_the_recipes_reference_lists_every_recipe_and_plan(hook, site):
    generated = hook.recipes_page()
    built = page_text(site, "reference/recipes")
    recipes = list_recipes()
    assert len(recipes) > 100
    for name in recipes:
        assert f"\n### {name}\n" in generated, name
        assert name in built, name
    for plan in list_plans():
        assert f"\n### plan `{plan}`\n" in generated, plan
    assert "data: {name: fashion_mnist" in generated  # the values, bases merged
    assert "40% symmetric label noise" in built  # a recipe's leading comment


def test_the_study_nav_lists_every_study_page(hook, site):
    plans = hook.study_pages(REPO / "docs")
    assert "no_augment" in plans
    index = page_text(site, "study")
    for plan in plans:
        assert f"`{plan}`" in index or plan in index, plan
        assert (site / "study" / plan / "index.html").is_file(), plan
