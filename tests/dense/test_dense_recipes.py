"""Every segmentation and detection recipe trains one step and scores on its miniature."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from patchswap.recipes import configs_dir, find_recipe, list_recipes
from patchswap.runs import load_config, train

DENSE = sorted(
    name
    for name in list_recipes()
    if yaml.safe_load(find_recipe(name).read_text()).get("task")
    or name.startswith(("voc/", "cityscapes/", "rugd/", "scenes/"))
)


def test_the_paper_settings_are_recipes():
    assert {
        "voc/deeplabv3plus_r50",
        "cityscapes/deeplabv3plus_r50",
        "rugd/pspnet_r50",
        "voc/ssd300_r50",
        "scenes/deeplabv3plus_resnet8",
        "scenes/ssd_resnet8",
    } <= set(DENSE)
    assert configs_dir() is not None


@pytest.mark.parametrize("recipe", DENSE)
def test_recipe_trains_one_step(recipe, request, tmp_path: Path, scenes_root: Path):
    dataset = recipe.split("/")[0]
    # VOC recipes run on the scenes (VOC's layout; VOC07 trainval is not among them)
    root, splits = {
        "voc": (
            scenes_root,
            ["data.name=scenes", "data.train=[2012/train]", "data.test=2007/test"],
        ),
        "scenes": (scenes_root, []),
        "cityscapes": (request.getfixturevalue("cityscapes_root"), []),
        "rugd": (request.getfixturevalue("rugd_root"), []),
    }[dataset]
    overrides = [
        f"data.root={root}",
        *splits,
        "data.sbd_aug=false",
        "data.size=64",
        "data.test_subset=2",
        "epochs=1",
        "batch_size=2",
        "eval_batch_size=2",
        "schedule.warmup_epochs=0",
        "progress=false",
        f"output_dir={tmp_path}",
    ]
    cfg = load_config(find_recipe(recipe), overrides)
    summary = train(cfg, quiet=True)
    metric = "last_miou" if cfg.task == "segmentation" else "last_map"
    assert 0 <= summary[metric] <= 100
    assert summary["epochs_done"] == 1


@pytest.mark.parametrize(
    "recipe, blur",
    [
        ("voc/deeplabv3plus_r50", 0.5),  # jfzhang95's RandomGaussianBlur, VOC and Cityscapes
        ("cityscapes/deeplabv3plus_r50", 0.5),
        ("rugd/pspnet_r50", 0.0),  # mmseg's PSPNet pipeline has no blur
        ("scenes/deeplabv3plus_resnet8", 0.0),  # the CPU analogue keeps its published setting
    ],
)
def test_the_deeplabv3plus_recipes_blur_as_the_reference(recipe: str, blur: float) -> None:
    assert load_config(find_recipe(recipe)).data.blur == blur


def test_a_blur_that_is_no_probability_is_one_line() -> None:
    from patchswap.errors import ConfigError

    with pytest.raises(ConfigError, match=r"data.blur=1.5 is a probability, in \[0, 1\]"):
        load_config(find_recipe("voc/deeplabv3plus_r50"), ["data.blur=1.5"])
