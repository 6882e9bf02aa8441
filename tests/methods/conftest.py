"""Fixtures for the teacher-student methods: one tiny teacher, trained once per session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from patchswap.cli import main
from patchswap.runs import load_config, train

TEACHER_WIDTH = 4  # resnet8 width of the teacher; students use other widths to differ from it


def tiny_overrides(fashion_mnist_root: Path, output_dir: Path, *extra: str) -> list[str]:
    """A seconds-long CPU run on the generated Fashion-MNIST (like the `tiny_run` fixture)."""
    return [
        "data.name=fashion_mnist",
        f"data.root={fashion_mnist_root}",
        "data.samples_per_class=null",
        "model.name=resnet8",
        f"model.kwargs={{width: {TEACHER_WIDTH}}}",
        "epochs=1",
        "batch_size=8",
        "eval_batch_size=16",
        "progress=false",
        f"output_dir={output_dir}",
        *extra,
    ]


@pytest.fixture(scope="session")
def teacher_checkpoint(tmp_path_factory: pytest.TempPathFactory, fashion_mnist_root: Path) -> Path:
    """best.pt of a one-epoch hard-label resnet8 (width 4) on the generated Fashion-MNIST."""
    root = tmp_path_factory.mktemp("teacher")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATCHSWAP_CACHE", str(root / "cache"))
        overrides = tiny_overrides(fashion_mnist_root, root / "runs", "method=hard_label")
        train(load_config(None, [*overrides, "name=teacher"]), quiet=True)
    return root / "runs" / "teacher" / "best.pt"


@pytest.fixture
def recipe_argv(
    tmp_path: Path, fashion_mnist_root: Path, patchswap_cache: Path, teacher_checkpoint: Path
):
    """`patchswap train RECIPE` arguments for one tiny epoch with the session's teacher."""

    def argv(recipe: str, *extra: str, name: str = "run") -> list[str]:
        overrides = tiny_overrides(
            fashion_mnist_root,
            tmp_path / "runs",
            f"method.teacher={teacher_checkpoint}",
            *extra,
            f"name={name}",
        )
        return ["train", recipe, *(a for o in overrides for a in ("--set", o)), "--quiet"]

    return argv


@pytest.fixture
def train_recipe(tmp_path: Path, recipe_argv: Callable[..., list[str]]):
    """Train a shipped recipe for one tiny epoch through the CLI; returns the run folder."""

    def run(recipe: str, *extra: str, name: str = "run") -> Path:
        assert main(recipe_argv(recipe, *extra, name=name)) == 0
        return tmp_path / "runs" / name

    return run
