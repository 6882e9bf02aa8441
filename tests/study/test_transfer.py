"""A study plan that transfers its backbones: dense groups train heads on the last checkpoint of
a classification group's cell of the same seed, on Fashion-MNIST scenes each seed draws."""

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from patchswap.dense.datasets.scenes import MANIFEST
from patchswap.errors import ConfigError
from patchswap.study import load_plan, run_study


@pytest.fixture
def transfer_plan(tiny_run, tiny_dense, fashion_mnist_root, tmp_path):
    """Backbones (hard label, patch swap) and a DeepLabV3+ and an SSD group on their seeds."""
    budget = [o for o in tiny_run("epochs=1") if not o.startswith(("output_dir=", "name="))]
    scenes = {"train": 4, "test": 3, "fashion_mnist": str(fashion_mnist_root)}

    def write(edit=lambda plan: None):
        plan = {
            "title": "Tiny transfer",
            "kind": "exploratory",
            "seeds": [0, 1],
            "groups": [
                {
                    "name": "backbones",
                    "recipes": ["fashion_mnist/hard_label", "fashion_mnist/patchswap"],
                    "set": budget,
                },
                {
                    "name": "segmentation",
                    "recipes": ["scenes/deeplabv3plus_resnet8"],
                    "backbones": "backbones",
                    "scenes": dict(scenes),
                    "set": tiny_dense,
                },
                {
                    "name": "detection",
                    "recipes": ["scenes/ssd_resnet8"],
                    "backbones": "backbones",
                    "scenes": dict(scenes),
                    "set": tiny_dense,
                },
            ],
            "claims": [
                {
                    "claim": "DeepLabV3+ is better on the patch-swap backbone",
                    "source": "hypothesis",
                    "group": "segmentation",
                    "row": "deeplabv3plus_resnet8 (patchswap backbone)",
                    "metric": "last_miou",
                    "expect": "higher",
                },
                {
                    "claim": "SSD is better on the patch-swap backbone",
                    "source": "hypothesis",
                    "group": "detection",
                    "row": "ssd_resnet8 (patchswap backbone)",
                    "metric": "last_map",
                    "expect": "higher",
                },
            ],
        }
        edit(plan)
        path = tmp_path / "transfer.yaml"
        path.write_text(yaml.safe_dump(plan))
        return path

    return write


def test_transfer_cells_start_from_their_seeds_backbone_on_scenes_their_seed_draws(
    transfer_plan, tmp_path
):
    plan = load_plan(transfer_plan(), tmp_path / "runs")
    backbones, segmentation, detection = plan.groups
    assert segmentation.rows == [
        "deeplabv3plus_resnet8 (hard_label backbone)",
        "deeplabv3plus_resnet8 (patchswap backbone)",
    ]
    for cell in segmentation.cells + detection.cells:
        source = next(
            c for c in backbones.cells if c.seed == cell.seed and c.row in cell.row.split("(")[1]
        )
        assert cell.cfg.model.weights == str(source.folder / "last.pt")
    roots = {c.seed: c.cfg.data.root for c in segmentation.cells}
    assert roots[0] != roots[1]  # a seed draws its scenes
    assert {c.seed: c.cfg.data.root for c in detection.cells} == roots  # shared by both heads

    run_study(plan, tmp_path / "docs", quiet=True)
    for cell in segmentation.cells + detection.cells:
        loaded = json.loads((cell.folder / "backbone_weights.json").read_text())
        assert loaded["source"] == cell.cfg.model.weights and loaded["loaded"]
    manifests = [Path(root) / "VOCdevkit" / MANIFEST for root in roots.values()]
    seeds = sorted(json.loads(p.read_text())["seed"] for p in manifests)
    assert seeds == [0, 1]

    record = json.loads((tmp_path / "docs" / plan.name / "results.json").read_text())
    miou = record["groups"]["segmentation"]["deeplabv3plus_resnet8 (patchswap backbone)"]
    assert set(miou) == {"best_miou", "last_miou", "last_pixel_accuracy"}
    assert len(miou["last_miou"]) == 2
    assert len(record["groups"]["detection"]["ssd_resnet8 (hard_label backbone)"]["last_map"]) == 2
    page = (tmp_path / "docs" / plan.name / "README.md").read_text()
    assert "last mIoU (deeplabv3plus_resnet8 (patchswap backbone)" in page
    assert "last mAP (ssd_resnet8 (patchswap backbone)" in page
    assert "one set per seed (the seed draws them)" in page
    assert "flips, the transfer groups' scenes." in page
    assert [c["against"] for c in record["claims"]] == [
        "deeplabv3plus_resnet8 (hard_label backbone)",
        "ssd_resnet8 (hard_label backbone)",
    ]

    # a finished plan (e.g. its cells restored elsewhere) rewrites its page without its scenes
    for root in roots.values():
        shutil.rmtree(root)
    said = []
    run_study(plan, tmp_path / "docs", quiet=True, say=said.append)
    assert not any(Path(root).exists() for root in roots.values())
    assert sum("finished earlier" in line for line in said) == 12


def _group(index, key, value):
    def edit(plan):
        if value is None:
            plan["groups"][index].pop(key)
        else:
            plan["groups"][index][key] = value

    return edit


def _claim_metric(plan):
    plan["claims"][0]["metric"] = "last_top1"


BAD_TRANSFER = [
    (_group(1, "backbones", "nope"), "backbones='nope' must name an earlier classification group"),
    (_group(1, "sweep", "optim.lr=0.1,0.2"), "backbones and sweep do not combine"),
    (_group(0, "scenes", {"train": 2, "test": 2}), "backbones and scenes are for dense"),
    (_group(1, "scenes", None), "its seeds cannot draw a fixed segmentation set"),
    (_group(1, "scenes", {"train": 2}), "scenes: missing key 'test'"),
    (_group(1, "scenes", {"train": 2, "test": -1}), "must be whole numbers of scenes"),
    (_claim_metric, "names metric 'last_top1'; group 'segmentation' measures: best_miou"),
]


@pytest.mark.parametrize(("edit", "message"), BAD_TRANSFER)
def test_a_bad_transfer_group_is_one_line_before_any_training(
    transfer_plan, tmp_path, edit, message
):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_plan(transfer_plan(edit), tmp_path / "runs")
    assert not (tmp_path / "runs").exists()
