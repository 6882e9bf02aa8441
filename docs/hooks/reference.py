"""MkDocs hook: the generated reference pages, made at build time from the code itself.

`mkdocs build` (mkdocs.yml: `hooks: [docs/hooks/reference.py]`) adds these pages to the site
without writing them to disk, so they can never go stale:

- `reference/api.md`: mkdocstrings `:::` blocks for the public Python API;
- `reference/cli.md`: every command and option of `patchswap.cli.build_parser()`;
- `reference/recipes.md`: every recipe of `patchswap.recipes.list_recipes()` with its leading
  comment and the values it sets (its `base:` chain resolved), and the study plans;
- the nav's "Study" section: the study summary (`docs/study/README.md`, written by `patchswap
  study --render`), then every `docs/study/<plan>/README.md` there is.

The page builders are plain functions of the code (`api_page`, `cli_page`, `recipes_page`,
`study_pages`), so tests can check them without a build (`tests/test_docs.py`).
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
if importlib.util.find_spec("patchswap") is None:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO / "src"))

GENERATED_NOTE = (
    '!!! info "Generated page"\n'
    "    Made at build time by `docs/hooks/reference.py` from {source}; edit that, not this page.\n"
)

# --- Python API ------------------------------------------------------------------------------

# (section title, intro, the objects documented there)
API_SECTIONS: list[tuple[str, str, list[str]]] = [
    (
        "The method",
        "Everything in `patchswap.__all__`: the swap, the pairing, the loss, the objective for "
        "pipelines that own their loader, the `p_r` schedules and the method registry.",
        [],  # filled from patchswap.__all__
    ),
    (
        "Writing a method",
        "The contract a training method of your own implements (register it with "
        "`register_method`).",
        ["patchswap.methods.base"],
    ),
    (
        "The trainer",
        "Train a recipe's config from Python (`patchswap train` calls this).",
        ["patchswap.runs.train", "patchswap.runs.load_config"],
    ),
    (
        "Evaluation",
        "The evaluation suite's building blocks (`patchswap evaluate` composes them): the "
        "metrics of Table 10, the attacks of Table 12, the corruptions of Table 11.",
        [
            "patchswap.evaluation.metrics",
            "patchswap.evaluation.attacks",
            "patchswap.evaluation.corruptions",
        ],
    ),
]
INTEGRATIONS = (
    "patchswap.integrations",
    "patchswap.integrations.lightning",
    "patchswap.integrations.huggingface",
)
# `patchswap.__all__` in reading order; names added to it later follow, alphabetically
API_ORDER = [
    "patch_swap",
    "IntraClassPairSampler",
    "in_batch_partners",
    "SelfDistillationLoss",
    "kl_divergence",
    "PatchSwapObjective",
    "ConstantPr",
    "ProgressivePr",
    "AdaptivePr",
    "build_pr_schedule",
    "register_method",
]
# options of a `:::` block (YAML lines under it)
BLOCK_OPTIONS = {
    "patchswap.methods.base": [
        "members: [Method, Batch, StepOutput, PairLogits, MethodContext]",
        "show_submodules: false",
    ],
}


def _module_exists(name: str) -> bool:
    """Whether the module's source is there (found by spec; optional dependencies such as
    Lightning need not be installed, mkdocstrings reads the source)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # its parent package is absent
        return False


def api_objects() -> list[tuple[str, str, list[str]]]:
    """The API page's sections with the dotted paths of the objects each documents."""
    import patchswap

    sections = [(title, intro, list(names)) for title, intro, names in API_SECTIONS]
    names = [n for n in API_ORDER if n in patchswap.__all__]
    names += sorted(set(patchswap.__all__) - set(names))
    sections[0][2].extend(f"patchswap.{name}" for name in names)
    integrations = [name for name in INTEGRATIONS if _module_exists(name)]
    if integrations:
        sections.append((
            "Integrations",
            "Patch swap inside Lightning and the Hugging Face `Trainer`.",
            integrations,
        ))  # fmt: skip
    return sections


def api_page() -> str:
    lines = [
        "# Python API",
        "",
        GENERATED_NOTE.format(source="the docstrings (mkdocstrings)"),
    ]
    for title, intro, names in api_objects():
        lines += [f"## {title}", "", intro, ""]
        for name in names:
            options = BLOCK_OPTIONS.get(name, [])
            lines += [f"::: {name}", *(["    options:"] if options else [])]
            lines += [f"      {option}" for option in options] + [""]
    return "\n".join(lines)


# --- command line ----------------------------------------------------------------------------


def md_text(text: str) -> str:
    """Plain text (a help string) safe inside Markdown, tables included."""
    text = html.escape(" ".join(text.split()), quote=False)
    return re.sub(r"([\\`*_\[\]|#])", r"\\\1", text)


def _help(action: argparse.Action, prog: str) -> str:
    text = action.help or ""
    if "%(" in text:
        text = text % {**vars(action), "prog": prog}
    return text


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _subcommand_help(parser: argparse.ArgumentParser) -> dict[str, str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {a.dest: a.help or "" for a in action._choices_actions}
    return {}


def _value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    return str(value)


def _arguments_table(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            name = ", ".join(f"`{s}`" for s in action.option_strings)
            if action.nargs != 0:
                metavar = action.metavar or (
                    "{" + ",".join(map(str, action.choices)) + "}"
                    if action.choices
                    else action.dest.upper()
                )
                name += f" `{metavar}`"
                if action.nargs in ("+", "*"):
                    name += " ..."
        else:
            name = f"`{action.metavar or action.dest}`"
            name += " (optional)" if action.nargs in ("?", "*") else ""
            name += " ..." if action.nargs in ("+", "*") else ""
        default = action.default
        shown = (
            ""
            if default in (None, argparse.SUPPRESS, False)
            or action.nargs == 0
            and not action.option_strings
            else f"`{_value(default)}`"
        )
        if default == [] and action.dest == "overrides":
            shown = ""
        choices = ", ".join(f"`{c}`" for c in action.choices) if action.choices else ""
        rows.append(f"| {name} | {md_text(_help(action, parser.prog))} | {shown} | {choices} |")
    if not rows:
        return []
    return ["| argument | what it does | default | choices |", "|---|---|---|---|", *rows, ""]


def cli_page() -> str:
    """Every command and option of `patchswap.cli.build_parser()`."""
    from patchswap.cli import build_parser

    parser = build_parser()
    commands = _subcommands(parser)
    helps = _subcommand_help(parser)
    lines = [
        "# Command line",
        "",
        GENERATED_NOTE.format(source="`patchswap.cli.build_parser()`"),
        md_text(parser.description or ""),
        "",
        "```text",
        parser.format_usage().strip(),
        "```",
        "",
        *_arguments_table(parser),
        "| command | what it does |",
        "|---|---|",
        *(
            f"| [`{name}`](#patchswap-{name}) | {md_text(helps.get(name, ''))} |"
            for name in commands
        ),  # fmt: skip
        "",
        "Every command exits with 2 and one line naming the problem on a user error (a bad "
        "recipe key or value, an unknown name, missing data).",
        "",
    ]
    for name, sub in commands.items():
        lines += [
            f"## patchswap {name}",
            "",
            md_text(sub.description or helps.get(name, "")),
            "",
            "```text",
            sub.format_usage().strip(),
            "```",
            "",
            *_arguments_table(sub),
        ]
    return "\n".join(lines)


# --- recipes and plans -----------------------------------------------------------------------


@contextmanager
def _packaged_recipes_only() -> Iterator[None]:
    """Only the shipped recipes: without `$PATCHSWAP_CONFIGS` (a user's own folder)."""
    saved = os.environ.pop("PATCHSWAP_CONFIGS", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["PATCHSWAP_CONFIGS"] = saved


def leading_comment(path: Path) -> str:
    """The comment block a YAML file starts with, as one paragraph."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(line for line in lines if line)


def _bases(path: Path) -> list[str]:
    data = yaml.safe_load(path.read_text()) or {}
    bases = data.get("base", [])
    return [bases] if isinstance(bases, str) else list(bases)


def recipe_folders() -> dict[str, dict[str, Path]]:
    """Recipe name -> path, grouped by the recipe's folder (`cifar100/baselines`, ...)."""
    from patchswap.recipes import find_recipe, list_recipes

    with _packaged_recipes_only():
        names = list(list_recipes())
        paths = {name: find_recipe(name) for name in names}
    folders: dict[str, dict[str, Path]] = {}
    for name in names:
        folders.setdefault(name.rpartition("/")[0] or ".", {})[name] = paths[name]
    return dict(sorted(folders.items()))


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def plans() -> dict[str, Path]:
    from patchswap.recipes import find_plan, list_plans

    with _packaged_recipes_only():
        return {name: find_plan(name) for name in list_plans()}


def recipes_page() -> str:
    """Every recipe (leading comment, values set) grouped by folder, then the study plans."""
    from patchswap.config import read_recipe

    folders = recipe_folders()
    count = sum(map(len, folders.values()))
    lines = [
        "# Recipes",
        "",
        GENERATED_NOTE.format(source="`patchswap.recipes.list_recipes()`"),
        f"The {count} recipes shipped in the package (`patchswap list recipes`), by folder. "
        "Train one by name (`patchswap train fashion_mnist/patchswap`); every value can be "
        "changed with `--set key=value` ([the trainer](../guides/trainer.md)). Each recipe "
        "shows its leading comment and the values it sets, its `base:` files merged in "
        "(`patchswap.config.read_recipe`); everything else keeps the defaults of "
        "`patchswap.config` and of the method's options. The [study plans](#study-plans) "
        "follow the recipes.",
        "",
        "| folder | recipes |",
        "|---|---:|",
        *(
            f"| [`{folder}`](#{_slug(folder)}) | {len(recipes)} |"
            for folder, recipes in folders.items()
        ),  # fmt: skip
        "",
    ]
    for folder, recipes in folders.items():
        lines += [f"## {folder}", ""]
        for name, path in recipes.items():
            values = read_recipe(path)
            about = leading_comment(path) or "(no comment)"
            bases = _bases(path)
            lines += [f"### {name}", "", md_text(about), ""]
            if bases:
                lines += ["Based on " + ", ".join(f"`{b}`" for b in bases) + ".", ""]
            dumped = yaml.safe_dump(values, sort_keys=False, default_flow_style=None, width=90)
            lines += [
                '??? example "Values it sets"',
                "",
                "    ```yaml",
                _indent(dumped.rstrip()),
                "    ```",
                "",
            ]
    lines += [
        "## Study plans",
        "",
        "Run with `patchswap study PLAN` ([the study guide](../guides/study.md)); each writes "
        "its page under `docs/study/<plan>/`.",
        "",
    ]
    for name, path in plans().items():
        raw = yaml.safe_load(path.read_text()) or {}
        title = raw.get("title", name)
        lines += [f"### plan `{name}`", "", f"**{md_text(str(title))}**", ""]
        if raw.get("about"):
            lines += [md_text(str(raw["about"])), ""]
        if (REPO / "docs" / "study" / name / "README.md").is_file():
            lines += [f"Results: [study/{name}](../study/{name}/README.md).", ""]
        lines += [
            '??? example "The plan"',
            "",
            "    ```yaml",
            _indent(path.read_text().rstrip()),
            "    ```",
            "",
        ]
    return "\n".join(lines)


def _slug(text: str) -> str:
    """The heading anchor Python-Markdown's toc extension makes of `text`."""
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


# --- study pages -----------------------------------------------------------------------------


def study_pages(docs_dir: Path) -> list[str]:
    """The plans that have a page under `docs/study/`, sorted."""
    return sorted(p.parent.name for p in (docs_dir / "study").glob("*/README.md"))


# --- the hooks -------------------------------------------------------------------------------

STUDY_NAV = "Study"


def on_config(config: Any) -> Any:
    """Fill the nav's "Study" section: the overview, then one entry per plan page."""
    docs_dir = Path(config["docs_dir"])
    for item in config["nav"] or []:
        if isinstance(item, dict) and STUDY_NAV in item:
            item[STUDY_NAV] = [
                {"Overview": "study/README.md"},  # written by `patchswap study --render`
                *({name: f"study/{name}/README.md"} for name in study_pages(docs_dir)),
            ]
    return config


def on_files(files: Any, config: Any) -> Any:
    """Add the generated pages to the site (nothing is written into docs/)."""
    from mkdocs.structure.files import File

    pages = {
        "reference/api.md": api_page(),
        "reference/cli.md": cli_page(),
        "reference/recipes.md": recipes_page(),
    }
    for uri, content in pages.items():
        if files.get_file_from_path(uri) is not None:
            files.remove(files.get_file_from_path(uri))
        files.append(File.generated(config, uri, content=content))
    return files
