"""Typed recipes: inheritance, overrides and one-line errors."""

import pytest

from patchswap.config import RunConfig, dump_config
from patchswap.errors import ConfigError
from patchswap.infra.typed_mappings import build_dataclass
from patchswap.methods import METHODS
from patchswap.recipes import find_recipe, list_recipes
from patchswap.runs import load_config


def write(path, text):
    path.write_text(text)
    return path


def test_defaults_and_overrides():
    cfg = load_config(None, ["optim.lr=0.1", "schedule.milestones=[1, 2]", "method.p=0.3"])
    assert isinstance(cfg, RunConfig)
    assert cfg.optim.lr == 0.1 and cfg.schedule.milestones == [1, 2]
    assert cfg.method["name"] == "patchswap" and cfg.method["p"] == 0.3
    # Every option is resolved, defaults included, so the run records what trained.
    assert cfg.method["temperature"] == 4.0 and cfg.method["forward"] == "separate"


def test_base_inheritance_and_name_from_file(tmp_path):
    write(tmp_path / "base.yaml", "epochs: 7\noptim:\n  lr: 0.2\n  momentum: 0.5\n")
    child = write(tmp_path / "child.yaml", "base: base.yaml\noptim:\n  lr: 0.3\n")
    cfg = load_config(child)
    assert (cfg.epochs, cfg.optim.lr, cfg.optim.momentum, cfg.name) == (7, 0.3, 0.5, "child")


def test_method_shorthand_replaces_the_block():
    cfg = load_config(None, ["method.p=0.2", "method=hard_label"])
    assert cfg.method == {"name": "hard_label"}


def test_int_is_accepted_for_float_and_round_trips(tmp_path):
    cfg = load_config(None, ["optim.lr=1"])
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)
    again = load_config(write(tmp_path / "resolved.yaml", dump_config(cfg)))
    assert again.to_dict() | {"name": None} == cfg.to_dict() | {"name": None}


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.lrr=0.1", "unknown key optim.lrr in optim; valid keys: base_batch_size, lr"),
        ("epoch=3", "unknown key epoch in the recipe; valid keys: batch_size"),
        ("epochs=0", "epochs=0 must be >= 1"),
        ("eval_every=0", "eval_every=0 must be >= 1"),
        ("channels_last=sometimes", "channels_last='sometimes' is unknown; valid: auto, true"),
        ("epochs=ten", "epochs='ten' must be of type int"),
        ("deterministic=3", "must be true or false"),
        ("schedule.name=step", "valid: constant, cosine, multistep"),
        ("optim=3", "optim must be a mapping"),
        ("no_equals_sign", "must look like key=value"),
    ],
)
def test_bad_values_are_one_clear_line(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_missing_recipe_and_self_inheritance(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    loop = write(tmp_path / "loop.yaml", "base: loop.yaml\n")
    with pytest.raises(ConfigError, match="inherits from itself"):
        load_config(loop)


def test_every_shipped_recipe_loads():
    recipes = list_recipes()
    assert "fashion_mnist/demo" in recipes and "cifar100/resnet18_patchswap" in recipes
    assert len(recipes) >= 40
    for name in recipes:
        cfg = load_config(find_recipe(name))
        if getattr(cfg, "task", "classification") != "classification":
            continue  # dense recipes: tests/dense/test_dense_recipes.py trains each
        options = {k: v for k, v in cfg.method.items() if k != "name"}
        build_dataclass(METHODS[cfg.method["name"]].Options, options, "method.")  # valid keys


def test_paper_recipe_values():
    cfg = load_config(find_recipe("cifar100/resnet34_patchswap_progressive"))
    assert (cfg.epochs, cfg.batch_size, cfg.optim.lr) == (240, 64, 0.05)
    assert cfg.optim.weight_decay == 5e-4
    assert cfg.schedule.milestones == [150, 180, 210]
    assert (
        cfg.method.items()
        >= {
            "name": "patchswap",
            "grid": 4,
            "p": 0.5,
            "schedule": "progressive",
            "temperature": 4.0,
            "gamma": 0.5,
            "alpha": 0.5,
        }.items()
    )
    assert load_config(find_recipe("cifar100/shufflenetv2_hard_label")).optim.lr == 0.01
    assert load_config(find_recipe("imagenet/resnet50_patchswap_2x2")).method["grid"] == 2


@pytest.mark.parametrize(
    "method, message",
    [
        ("{name: at, p: 0}", "method.p=0.0 must be > 0"),
        ("{name: crd, nce_m: 1}", "method.nce_m=1.0 must be < 1"),
        ("{name: kd, temperature: 0}", "method.temperature=0.0 must be > 0"),
        ("{name: rkd, beta: -1}", "method.beta=-1.0 must be >= 0"),
        ("{name: tf_kd_self, alpha: 2}", "method.alpha=2.0 must be in"),
    ],
)
def test_teacher_student_options_are_checked_when_the_config_is_built(method, message):
    """Before any data, model or teacher loads (the teacher is not even named here)."""
    with pytest.raises(ConfigError, match=message):
        load_config(None, [f"method={method}"])


UNSET = "!unset"  # `--unset KEY` reaches the config as the override `KEY=!unset`
DILATED = {"replace_stride_with_dilation": [False, False, True]}  # the VOC recipe's


@pytest.mark.parametrize(
    "recipe, overrides, read, expected",
    [
        # a mapping back to its default: `{}` merges into the recipe's, unset clears it
        ("voc/deeplabv3plus_r50", [], "model.backbone_kwargs", DILATED),
        ("voc/deeplabv3plus_r50", ["model.backbone_kwargs={}"], "model.backbone_kwargs", DILATED),
        ("voc/deeplabv3plus_r50", [f"model.backbone_kwargs={UNSET}"], "model.backbone_kwargs", {}),
        # one key of a mapping; then replace a mapping: unset, then set, in order
        ("voc/ssd300_r50", [f"model.options.box_sizes={UNSET}"], "model.options",
         {"keep_resolution": True}),
        ("voc/ssd300_r50", [f"model.options={UNSET}", "model.options.extra_width=0.5"],
         "model.options", {"extra_width": 0.5}),
        # a value back to its default (`null` is refused where the default is not None)
        ("voc/deeplabv3plus_r50", [f"optim.lr={UNSET}"], "optim.lr", 0.05),
        ("voc/deeplabv3plus_r50", ["epochs=3", f"epochs={UNSET}"], "epochs", 50),
        ("voc/deeplabv3plus_r50", [f"data.blur={UNSET}"], "data.blur", 0.0),
        # a config key the recipe does not set is at its default already
        ("scenes/ssd_resnet8", [f"optim.nesterov={UNSET}"], "optim.nesterov", False),
        # a method option, and a whole section
        ("fashion_mnist/patchswap", ["method.grid=2", f"method.grid={UNSET}"], "method.grid", 4),
        ("fashion_mnist/patchswap", [f"schedule={UNSET}"], "schedule.name", "multistep"),
    ],
)  # fmt: skip
def test_unset_removes_a_key_so_its_default_applies(recipe, overrides, read, expected):
    cfg = load_config(find_recipe(recipe), overrides)
    value = cfg.to_dict()
    for part in read.split("."):
        value = value[part]
    assert value == expected


@pytest.mark.parametrize(
    "recipe, override, message",
    [
        ("voc/deeplabv3plus_r50", f"model.backbone_kwarg={UNSET}",
         "--unset model.backbone_kwarg: no such key to reset (neither set nor a config key); "
         "model holds backbone, backbone_kwargs, name, options, taps, weights"),
        ("voc/ssd300_r50", f"model.options.keep_resolutoin={UNSET}",
         "model.options holds box_sizes, keep_resolution"),
        ("voc/ssd300_r50", f"modle.options={UNSET}", "the config holds batch_size"),
        ("voc/ssd300_r50", f"data.size.x={UNSET}", "data.size is a value, not a mapping"),
        ("fashion_mnist/patchswap", f"method.gird={UNSET}", "method holds alpha, forward"),
        # what unset is for: null where the default is not None is refused
        ("voc/deeplabv3plus_r50", "model.backbone_kwargs=null",
         "model.backbone_kwargs=None must be a mapping"),
    ],
)  # fmt: skip
def test_unset_of_an_unknown_key_is_one_line(recipe, override, message):
    with pytest.raises(ConfigError) as err:
        load_config(find_recipe(recipe), [override])
    assert message in str(err.value) and "\n" not in str(err.value)
