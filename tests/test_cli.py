"""The command line as a user runs it: train, resume, eval, list, errors, --help."""

import json

import pytest

from patchswap.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_train_resume_and_eval(capsys, tiny_run, tmp_path, fashion_mnist_root):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text("base: []\nmethod:\n  name: patchswap\n  grid: 2\n")
    sets = [a for o in tiny_run("epochs=1") for a in ("--set", o)]
    code, out, _ = run(capsys, "train", str(recipe), *sets, "--quiet")
    assert code == 0 and "best top1" in out
    folder = tmp_path / "runs" / "tiny"
    code, _, _ = run(capsys, "train", "--resume", str(folder), "--set", "epochs=2", "--quiet")
    assert code == 0
    assert json.loads((folder / "summary.json").read_text())["epochs_done"] == 2
    code, out, _ = run(capsys, "eval", str(folder / "best.pt"))
    assert code == 0 and "top1" in out and "top5" in out


def test_train_by_recipe_name_with_overrides(capsys, tiny_run):
    sets = [a for o in tiny_run("epochs=1", "name=named") for a in ("--set", o)]
    code, out, err = run(capsys, "train", "fashion_mnist/hard_label", *sets, "--quiet")
    assert code == 0, err


def test_missing_dataset_says_how_to_get_it(capsys, tmp_path, patchswap_cache):
    code, _, err = run(
        capsys,
        "train",
        "cifar100/resnet18_patchswap",
        "--set",
        f"data.root={tmp_path}",
        "--set",
        f"output_dir={tmp_path}",
    )
    assert code == 2 and "download=true" in err


@pytest.mark.parametrize(
    "what, expected",
    [
        ("methods", "patchswap"),
        ("models", "resnet18"),
        ("datasets", "fashion_mnist"),
        ("recipes", "cifar100/resnet18_patchswap"),
    ],
)
def test_list(capsys, what, expected):
    code, out, _ = run(capsys, "list", what)
    assert code == 0 and expected in out


@pytest.mark.parametrize(
    "command", ["train", "eval", "evaluate", "compare", "study", "demo", "list"]
)
def test_help(capsys, command):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0 and "usage: patchswap" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["train", "eval", "evaluate", "compare", "demo"])
def test_unset_joins_the_overrides_in_order_wherever_set_exists(command):
    from patchswap.cli import build_parser

    target = {"train": ["r"], "eval": ["c"], "evaluate": ["c"], "compare": ["r"], "demo": []}
    argv = [command, *target[command], "--set", "a=1", "--unset", "b.c", "--set", "b.c.d=2"]
    args = build_parser().parse_args(argv)
    assert args.overrides == ["a=1", "b.c=!unset", "b.c.d=2"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--unset", "model.backbone_kwarg"],
         "patchswap: error: --unset model.backbone_kwarg: no such key to reset"),
        (["--unset", "model.options.atrous_rate"], "model.options holds atrous_rates, channels"),
        (["--set", "model.backbone_kwargs=null"], "model.backbone_kwargs=None must be a mapping"),
    ],
    ids=["typo", "option typo", "null refused"],
)  # fmt: skip
def test_unset_of_an_unknown_key_is_one_line_before_any_data(capsys, tmp_path, argv, message):
    recipe = ["train", "scenes/deeplabv3plus_resnet8", "--set", f"data.root={tmp_path}"]
    code, _, err = run(capsys, *recipe, *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("key", ["model.options=3", "a..b", ""])
def test_unset_takes_a_key_not_a_value(capsys, key):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "scenes/deeplabv3plus_resnet8", "--unset", key])
    assert exit_.value.code == 2 and "is not a dotted key" in capsys.readouterr().err
