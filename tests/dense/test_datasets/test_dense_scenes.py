"""Fashion-MNIST scenes: deterministic, in VOC's exact layout, masks and boxes in agreement."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from torchvision.datasets import VOCDetection, VOCSegmentation

from patchswap.cli import main
from patchswap.dense.datasets.scenes import MANIFEST, split_pools, write_scenes
from patchswap.dense.datasets.voc import SCENE_CLASSES, voc_palette
from patchswap.errors import DataError, PatchswapError

# split -> VOC year folder
YEARS = {"train": "2012", "val": "2012", "test": "2007"}


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _scenes(root: Path) -> list[tuple[str, str, Path]]:
    """(split, id, VOC year folder) of every scene, from the image lists."""
    found = []
    for split, year in YEARS.items():
        voc = root / "VOCdevkit" / f"VOC{year}"
        ids = (voc / "ImageSets" / "Main" / f"{split}.txt").read_text().split()
        found += [(split, scene_id, voc) for scene_id in ids]
    return found


def _objects(xml_path: Path) -> list[dict]:
    objects = []
    for obj in ET.parse(xml_path).getroot().iter("object"):
        box = obj.find("bndbox")
        objects.append(
            {
                "name": obj.findtext("name"),
                "truncated": obj.findtext("truncated"),
                "difficult": obj.findtext("difficult"),
                "box": tuple(int(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")),
            }
        )
    return objects


def test_same_seed_writes_identical_files(tmp_path: Path, fashion_mnist_root: Path) -> None:
    counts = {"train": 3, "val": 2, "test": 1}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        write_scenes(tmp_path / name, fashion_mnist_root, seed=seed, **counts)
    first, again, other = (_files(tmp_path / name) for name in "abc")
    assert first == again
    assert first.keys() == other.keys()
    jpegs = [name for name in first if name.endswith(".jpg")]
    assert all(first[name] != other[name] for name in jpegs)


def test_layout_is_vocs_and_torchvision_reads_it(scenes_root: Path) -> None:
    devkit = scenes_root / "VOCdevkit"
    v12, v07 = devkit / "VOC2012", devkit / "VOC2007"
    lists = [
        *(v12 / "ImageSets" / folder / f"{s}.txt" for folder in ("Segmentation", "Main")
          for s in ("train", "val", "trainval")),
        v07 / "ImageSets" / "Segmentation" / "test.txt",
        v07 / "ImageSets" / "Main" / "test.txt",
        *(v12 / "ImageSets" / "Main" / f"{c}_trainval.txt" for c in SCENE_CLASSES[1:]),
    ]  # fmt: skip
    assert all(path.is_file() for path in lists)
    counts = json.loads((devkit / MANIFEST).read_text())
    scenes = _scenes(scenes_root)
    assert [s for s, _, _ in scenes] == [s for s in YEARS for _ in range(counts[s])]
    for _, scene_id, voc in scenes:
        for folder, ext in (("JPEGImages", "jpg"), ("SegmentationClass", "png"),
                            ("SegmentationObject", "png"), ("Annotations", "xml")):  # fmt: skip
            assert (voc / folder / f"{scene_id}.{ext}").is_file()
    trainval = (v12 / "ImageSets" / "Main" / "trainval.txt").read_text().split()
    for name in SCENE_CLASSES[1:]:  # per-class lists: 1 present, 0 only difficult, -1 absent
        lines = (v12 / "ImageSets" / "Main" / f"{name}_trainval.txt").read_text().splitlines()
        for line, scene_id in zip(lines, trainval, strict=True):
            objects = [o for o in _objects(v12 / "Annotations" / f"{scene_id}.xml")
                       if o["name"] == name]  # fmt: skip
            flag = 1 if any(o["difficult"] == "0" for o in objects) else 0 if objects else -1
            assert line == f"{scene_id} {flag:2d}"
    assert trainval == [i for s, i, _ in scenes if s in ("train", "val")]
    assert len(VOCSegmentation(scenes_root, "2012", "train")) == counts["train"]
    image, mask = VOCSegmentation(scenes_root, "2012", "val")[0]
    assert image.size == mask.size == (64, 64)
    image, annotation = VOCDetection(scenes_root, "2007", "test")[0]
    assert annotation["annotation"]["size"] == {"width": "64", "height": "64", "depth": "3"}


def test_xml_and_masks_follow_voc(scenes_root: Path) -> None:
    for _, scene_id, voc in _scenes(scenes_root):
        root = ET.parse(voc / "Annotations" / f"{scene_id}.xml").getroot()
        assert root.findtext("folder") == voc.name
        assert root.findtext("filename") == f"{scene_id}.jpg"
        assert root.findtext("segmented") == "1"
        image = Image.open(voc / "JPEGImages" / f"{scene_id}.jpg")
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (64, 64))
        objects = _objects(voc / "Annotations" / f"{scene_id}.xml")
        assert 1 <= len(objects) <= 4
        for obj in objects:
            assert obj["name"] in SCENE_CLASSES[1:]
            assert {obj["truncated"], obj["difficult"]} <= {"0", "1"}
            xmin, ymin, xmax, ymax = obj["box"]
            assert 1 <= xmin <= xmax <= 64 and 1 <= ymin <= ymax <= 64
        for folder, valid in (("SegmentationClass", set(range(11))),
                              ("SegmentationObject", set(range(len(objects) + 1)))):  # fmt: skip
            png = Image.open(voc / folder / f"{scene_id}.png")
            assert png.mode == "P"
            palette = np.frombuffer(png.palette.tobytes(), np.uint8).reshape(-1, 3)
            assert np.array_equal(palette, voc_palette())
            assert set(np.unique(np.array(png))) <= valid | {255}


def test_boxes_are_tight_boxes_of_visible_masks(scenes_root: Path) -> None:
    for _, scene_id, voc in _scenes(scenes_root):
        classes = np.array(Image.open(voc / "SegmentationClass" / f"{scene_id}.png"))
        instances = np.array(Image.open(voc / "SegmentationObject" / f"{scene_id}.png"))
        assert np.array_equal(classes == 255, instances == 255)
        for k, obj in enumerate(_objects(voc / "Annotations" / f"{scene_id}.xml"), start=1):
            rows, cols = np.nonzero(instances == k)
            box = (cols.min() + 1, rows.min() + 1, cols.max() + 1, rows.max() + 1)
            assert box == obj["box"]
            assert set(np.unique(classes[instances == k])) == {SCENE_CLASSES.index(obj["name"])}
        # void is a band next to an item, never inside the background away from items
        foreground = ndimage.binary_dilation((instances > 0) & (instances < 255), np.ones((3, 3)))
        assert np.all(foreground[instances == 255])
        assert np.array_equal(classes == 0, instances == 0)


def test_no_fashion_mnist_image_in_two_splits(scenes_root: Path) -> None:
    sources: dict[str, set[int]] = {split: set() for split in YEARS}
    for split, scene_id, voc in _scenes(scenes_root):
        database, *indices = (
            (ET.parse(voc / "Annotations" / f"{scene_id}.xml").getroot().findtext("source/image"))
            .removeprefix("fashion-mnist ")
            .split()
        )
        assert database == ("train" if split == "train" else "t10k")
        sources[split] |= set(map(int, indices))
    assert not sources["val"] & sources["test"]
    pools = split_pools(60000, 10000, seed=0)
    val, test = set(pools["val"][1].tolist()), set(pools["test"][1].tolist())
    assert not val & test and len(val | test) == 10000 and len(pools["train"][1]) == 60000
    assert sources["val"] <= set(split_pools(60, 20, seed=0)["val"][1].tolist())


def test_refuses_to_overwrite_another_set(scenes_root: Path, fashion_mnist_root: Path) -> None:
    before = _files(scenes_root)
    counts = {s: json.loads((scenes_root / "VOCdevkit" / MANIFEST).read_text())[s] for s in YEARS}
    write_scenes(scenes_root, fashion_mnist_root, seed=0, **counts)  # the same set: left as is
    with pytest.raises(DataError, match="seed 0.*not the ones asked for.*seed 1") as err:
        write_scenes(scenes_root, fashion_mnist_root, seed=1, **counts)
    assert "\n" not in str(err.value)
    assert _files(scenes_root) == before


def test_refuses_a_voc_set_it_did_not_write(tmp_path: Path, fashion_mnist_root: Path) -> None:
    (tmp_path / "VOCdevkit" / "VOC2012" / "JPEGImages").mkdir(parents=True)
    with pytest.raises(DataError, match=rf"VOC2012 exists but .*\(no {MANIFEST}\)"):
        write_scenes(tmp_path, fashion_mnist_root, train=1, val=1)


def test_completes_an_interrupted_set(tmp_path: Path, fashion_mnist_root: Path) -> None:
    write_scenes(tmp_path / "a", fashion_mnist_root, train=2, val=1)
    expected = _files(tmp_path / "a")
    write_scenes(tmp_path / "b", fashion_mnist_root, train=2, val=1)
    voc = tmp_path / "b" / "VOCdevkit" / "VOC2012"
    (voc / "ImageSets" / "Main" / "trainval.txt").unlink()
    (voc / "JPEGImages" / "train_000001.jpg").unlink()
    write_scenes(tmp_path / "b", fashion_mnist_root, train=2, val=1)
    assert _files(tmp_path / "b") == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"train": -1, "val": 1}, "counts must be >= 0"),
        ({"train": 0, "val": 0}, "not all 0"),
        ({"train": 1, "val": 1, "size": 40}, "size must be at least 48"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(PatchswapError, match=message):
        write_scenes(tmp_path, None, **kwargs)


def test_command_line(
    scenes_root: Path, fashion_mnist_root: Path, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["scenes", "--help"])
    assert done.value.code == 0 and "VOCdevkit" in capsys.readouterr().out
    args = ["scenes", str(scenes_root), "--fashion-mnist", str(fashion_mnist_root), "--train", "6"]
    assert main([*args, "--val", "4", "--test", "3"]) == 0
    assert "scenes in" in capsys.readouterr().out
    assert main([*args, "--val", "5"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("patchswap: error: ") and error.count("\n") == 1
