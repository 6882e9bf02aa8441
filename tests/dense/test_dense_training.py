"""Dense runs end to end on generated scenes: recipes, backbone transfer, resume, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from patchswap.checkpoint import load_checkpoint
from patchswap.cli import main
from patchswap.dense.config import DenseRunConfig
from patchswap.dense.trainer import DenseTrainer
from patchswap.errors import CheckpointError, ConfigError
from patchswap.recipes import find_recipe
from patchswap.runs import load_config, train


@pytest.fixture
def scene_run(tmp_path: Path, scene_overrides: list[str]):
    """Overrides for a seconds-long dense run on the 6 train / 3 test scenes, into runs/dense."""

    def overrides(*extra: str) -> list[str]:
        return [*scene_overrides, f"output_dir={tmp_path / 'runs'}", "name=dense", *extra]

    return overrides


@pytest.fixture
def backbone_run(tiny_run) -> Path:
    """A finished `patchswap train` run of resnet8 (width 4) on miniature Fashion-MNIST."""
    train(load_config(None, tiny_run("epochs=1", "name=backbone")), quiet=True)
    folder = Path(next(o for o in tiny_run() if o.startswith("output_dir=")).split("=", 1)[1])
    return folder / "backbone"


@pytest.mark.parametrize("recipe", ["scenes/deeplabv3plus_resnet8", "scenes/ssd_resnet8"])
def test_scene_recipe_trains_and_scores(recipe, scene_run, tmp_path):
    summary = train(load_config(find_recipe(recipe), scene_run("epochs=2")), quiet=True)
    folder = tmp_path / "runs" / "dense"
    for name in ("config.yaml", "metrics.jsonl", "last.pt", "best.pt", "summary.json"):
        assert (folder / name).is_file(), name
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    metric = "miou" if "deeplab" in recipe else "map"
    assert [r["epoch"] for r in records] == [1, 2]
    assert all(0 <= r[f"test_{metric}"] <= 100 for r in records)
    assert summary[f"best_{metric}"] == max(r[f"test_{metric}"] for r in records)
    assert summary["task"] == ("segmentation" if metric == "miou" else "detection")
    per_class = records[-1]["test_iou" if metric == "miou" else "test_ap"]
    assert "tshirt" in per_class
    assert not (folder / "backbone_weights.json").exists()  # from scratch


def test_backbone_weights_land_in_the_dense_model(scene_run, backbone_run, tmp_path):
    checkpoint = load_checkpoint(backbone_run / "last.pt")
    cfg = load_config(
        find_recipe("scenes/deeplabv3plus_resnet8"),
        scene_run(f"model.backbone={backbone_run}/last.pt", "optim.lr=1.0e-12"),
    )
    assert cfg.model.backbone == "resnet8" and cfg.model.weights == f"{backbone_run}/last.pt"
    assert cfg.model.backbone_kwargs == {"width": 4}
    trainer = DenseTrainer(cfg, quiet=True)
    before = trainer.backbone.body.state_dict()["conv1.weight"].clone()
    trainer.fit()
    after = trainer.backbone.body.state_dict()
    # an lr of 1e-12 leaves the weights where the checkpoint put them, not where init did
    assert torch.allclose(after["conv1.weight"], checkpoint["model"]["conv1.weight"], atol=1e-8)
    assert not torch.allclose(before, checkpoint["model"]["conv1.weight"])
    assert torch.allclose(
        after["layer3.0.conv2.weight"], checkpoint["model"]["layer3.0.conv2.weight"], atol=1e-8
    )
    report = json.loads((tmp_path / "runs" / "dense" / "backbone_weights.json").read_text())
    assert "conv1.weight" in report["loaded"] and not report["mismatched"]
    assert set(report["unused"]) == {"fc.weight", "fc.bias"}  # the classifier
    saved = load_checkpoint(tmp_path / "runs" / "dense" / "last.pt")["config"]
    assert saved["model"]["backbone"] == "resnet8"  # resumable without the checkpoint


def test_checkpoint_of_another_architecture_is_one_line(scene_run, backbone_run, capsys):
    overrides = scene_run(
        "model.backbone=resnet14", f"model.weights={backbone_run}/last.pt", "name=other"
    )
    args = ["train", "scenes/deeplabv3plus_resnet8"]
    assert main(args + [f"--set={o}" for o in overrides]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "'resnet8' model but the backbone is 'resnet14'" in err
    with pytest.raises(CheckpointError, match="model.backbone="):
        DenseTrainer(load_config(find_recipe("scenes/ssd_resnet8"), overrides), quiet=True).fit()


def test_resume_continues_the_same_run(scene_run, tmp_path):
    recipe = find_recipe("scenes/deeplabv3plus_resnet8")
    straight = train(load_config(recipe, scene_run("epochs=2", "name=straight")), quiet=True)
    # the same run, interrupted during epoch 2, then resumed from its last checkpoint
    trainer = DenseTrainer(load_config(recipe, scene_run("epochs=2", "name=resumed")), quiet=True)
    original = trainer.train_epoch

    def stop_in_second(epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return original(epoch)

    trainer.train_epoch = stop_in_second
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    resumed = train(None, resume=tmp_path / "runs" / "resumed", quiet=True)
    assert resumed["last_miou"] == straight["last_miou"]
    a = load_checkpoint(tmp_path / "runs" / "straight" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "runs" / "resumed" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("task=depth", "task='depth' is unknown"),
        ("model.name=ssd", "'ssd' is not a segmentation model; valid: deeplabv3plus, pspnet"),
        ("data.name=cityscape", "not a segmentation set here; valid: voc, scenes"),
        ("data.mean=[0.5, 0.5]", "data.mean has 2 values and data.std 1"),
        ("head_lr_scale=0", "head_lr_scale=0.0 must be > 0"),
        ("schedule.name=exp", "valid: constant, cosine, multistep, poly"),
        ("data.train=[train]", "VOC split 'train' must read YEAR/IMAGE_SET"),
        ("data.train=[]", "data.train is empty"),
        ("data.grayscale=false", "give one per image channel (3 with data.grayscale=False)"),
        ("batch_size=1", "leaves 1 image per process: batch norm"),
    ],
)
def test_bad_dense_recipe_values_are_one_line(override, message, scene_run, capsys):
    args = ["train", "scenes/deeplabv3plus_resnet8"]
    assert main(args + [f"--set={o}" for o in scene_run(override)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_checkpoints_that_cannot_be_backbones_are_one_line(
    scene_run, backbone_run, tmp_path, capsys
):
    recipe = find_recipe("scenes/deeplabv3plus_resnet8")
    ckpt = f"{backbone_run}/last.pt"
    with pytest.raises(ConfigError, match="names another; give one of them"):
        load_config(recipe, scene_run(f"model.backbone={ckpt}", "model.weights=other/last.pt"))
    # a grey-trained stem for colour input: the run would train on a random stem
    colour = scene_run(
        f"model.backbone={ckpt}", "data.grayscale=false", "data.mean=[0.5,0.5,0.5]",
        "data.std=[0.25,0.25,0.25]",
    )  # fmt: skip
    with pytest.raises(CheckpointError, match="conv1.weight has another shape"):
        DenseTrainer(load_config(recipe, colour), quiet=True).fit()
    train(load_config(recipe, scene_run()), quiet=True)
    dense = tmp_path / "runs" / "dense"
    with pytest.raises(CheckpointError, match="is a segmentation run; a backbone comes from"):
        load_config(recipe, scene_run(f"model.backbone={dense}/last.pt", "name=again"))
    assert main(["eval", str(dense)]) == 2
    assert "is a segmentation run: eval and evaluate score classifiers" in capsys.readouterr().err


def test_classification_recipes_keep_their_config():
    assert not isinstance(load_config(find_recipe("fashion_mnist/patchswap")), DenseRunConfig)
    assert load_config(None, ["task=classification"]).method["name"] == "patchswap"
    with pytest.raises(ConfigError, match="task='segmentaton' is unknown"):
        load_config(None, ["task=segmentaton"])
