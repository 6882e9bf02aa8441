"""Every VOC annotation is read, or refused in one line, when its set is built: before training.

Table-driven, as tests/test_bad_inputs.py is for classification: each case damages one file of
a copy of the scene set (VOC layout) and names the words its one line must hold; the cases
after them are read as documented (docs/transfer/README.md). Cityscapes' and RUGD's masks are
checked in their own test files.
"""

from __future__ import annotations

import json
import math
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from patchswap.cli import main
from patchswap.dense.datasets import voc
from patchswap.dense.datasets.annotations import CACHE_FOLDER
from patchswap.dense.datasets.voc import SCENE_CLASSES, voc_detection, voc_segmentation
from patchswap.dense.metrics import VOCAveragePrecision
from patchswap.errors import DataError
from patchswap.recipes import find_recipe
from patchswap.runs import load_config, train

VOC12 = Path("VOCdevkit") / "VOC2012"
TRAIN_XML = VOC12 / "Annotations" / "train_000001.xml"  # trouser (1, 39, 24, 62), tshirt (33, ..)


@pytest.fixture
def voc_root(tmp_path: Path, scenes_root: Path) -> Path:
    """A copy of the scene set that a case may damage."""
    root = tmp_path / "voc"
    shutil.copytree(scenes_root, root)
    return root


def _mask_pixels(*values: int, size: tuple[int, int] | None = None) -> Callable[[Path], None]:
    """Edit: put `values` in the first pixels of a palette mask (keeping its palette), or resize."""

    def edit(path: Path) -> None:
        with Image.open(path) as mask:
            palette, pixels = mask.getpalette(), np.array(mask)
        pixels[0, : len(values)] = values
        out = Image.fromarray(pixels, mode="P")
        out.putpalette(palette)
        (out.resize(size, Image.NEAREST) if size else out).save(path)

    return edit


def _xml(change: Callable[[ET.Element], None]) -> Callable[[Path], None]:
    """Edit: apply `change` to the XML's root element and write it back."""

    def edit(path: Path) -> None:
        tree = ET.parse(path)
        change(tree.getroot())
        tree.write(path)

    return edit


def _set(obj: int, tag: str, text: str) -> Callable[[ET.Element], None]:
    """Set `tag` (e.g. bndbox/xmax) of object number `obj` (1-based)."""
    return lambda root: setattr(root.findall("object")[obj - 1].find(tag), "text", text)


def _drop(obj: int, tag: str) -> Callable[[ET.Element], None]:
    def change(root: ET.Element) -> None:
        parent = root.findall("object")[obj - 1]
        path, _, leaf = tag.rpartition("/")
        parent = parent.find(path) if path else parent
        parent.remove(parent.find(leaf))

    return change


def _no_objects(root: ET.Element) -> None:
    for obj in root.findall("object"):
        root.remove(obj)


def _rgb(path: Path) -> None:
    Image.open(path).convert("RGB").save(path)


def _truncate(path: Path) -> None:
    path.write_bytes(b"")


def _seg(split: str) -> Callable[[Path], object]:
    return lambda root: voc_segmentation(root, split, classes=SCENE_CLASSES)


def _det(split: str, year: str = "2012") -> Callable[[Path], object]:
    return lambda root: voc_detection(root, split, year=year, classes=SCENE_CLASSES)


MASK = "VOCdevkit/VOC2012/SegmentationClass/{}.png"
XML = "VOCdevkit/VOC2012/Annotations/train_000001.xml"
OBJ = f"{XML}: object 2 of 2 (tshirt)"
# (id, set builder, file under the root, edit, words of the one line)
REFUSED = [
    (
        "mask id 30 in train",
        _seg("train"),
        MASK.format("train_000001"),
        _mask_pixels(30),
        [f"{MASK.format('train_000001')}: class id 30 is out of range; valid ids are 0-10 and 255"],
    ),
    (
        "mask id 30 in val",
        _seg("val"),
        MASK.format("val_000002"),
        _mask_pixels(30),
        [f"{MASK.format('val_000002')}: class id 30 is out of range; valid ids are 0-10 and 255"],
    ),
    (
        "two ids out of range",
        _seg("val"),
        MASK.format("val_000000"),
        _mask_pixels(11, 200),
        ["val_000000.png: class ids 11, 200 are out of range"],
    ),
    (
        "mask of RGB colours",
        _seg("train"),
        MASK.format("train_000003"),
        _rgb,
        ["train_000003.png' is a RGB image; VOC masks are palette or grey PNGs"],
    ),
    (
        "mask of another size",
        _seg("train"),
        MASK.format("train_000003"),
        _mask_pixels(0, size=(64, 32)),
        ["train_000003.png is 64x32 pixels but its image", "train_000003.jpg is 64x64"],
    ),
    (
        "xmax < xmin",
        _det("train"),
        XML,
        _xml(_set(2, "bndbox/xmax", "3")),
        [f"{OBJ}: xmax 3 < xmin 33"],
    ),
    (
        "ymax < ymin",
        _det("train"),
        XML,
        _xml(_set(2, "bndbox/ymax", "17.5")),
        [f"{OBJ}: ymax 17.5 < ymin 18"],
    ),
    (
        "non-numeric coordinate",
        _det("train"),
        XML,
        _xml(_set(2, "bndbox/ymin", "1O")),
        [f"{OBJ}: ymin is '1O', not a number"],
    ),
    (
        "nan coordinate",
        _det("train"),
        XML,
        _xml(_set(2, "bndbox/xmin", "nan")),
        [f"{OBJ}: xmin is 'nan'"],
    ),
    (
        "missing coordinate",
        _det("train"),
        XML,
        _xml(_drop(2, "bndbox/xmax")),
        [f"{OBJ} has no <bndbox><xmax>"],
    ),
    (
        "object without name",
        _det("train"),
        XML,
        _xml(_drop(1, "name")),
        [f"{XML}: object 1 of 2 has no <name>"],
    ),
    (
        "box outside the image",
        _det("train"),
        XML,
        _xml(lambda r: [_set(2, f"bndbox/{k}", v)(r) for k, v in (("xmin", "70"), ("xmax", "80"))]),
        [f"{OBJ}: box (70, 18, 80, 56) lies outside the 64x64 image"],
    ),
    (
        "difficult 2",
        _det("train"),
        XML,
        _xml(_set(2, "difficult", "2")),
        [f"{OBJ}: difficult is '2', not 0 or 1"],
    ),
    (
        "empty file",
        _det("train"),
        XML,
        _truncate,
        [f"{XML} is not well-formed XML (no element found"],
    ),
    (
        "another root element",
        _det("train"),
        XML,
        lambda path: path.write_text("<annotations><object/></annotations>"),
        [f"{XML} is not a VOC annotation: its root is <annotations>"],
    ),
    (
        "unknown class name",
        _det("train"),
        XML,
        _xml(_set(2, "name", "sock")),
        [f"{XML}: object names sock are not among the classes given (background, tshirt"],
    ),
    (
        "in the test split",
        _det("test", "2007"),
        "VOCdevkit/VOC2007/Annotations/test_000002.xml",
        _xml(_set(1, "bndbox/xmax", "0")),
        ["VOC2007/Annotations/test_000002.xml: object 1 of", "xmax 0 < xmin"],
    ),
]


@pytest.mark.parametrize(
    "build, file, edit, words", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_bad_annotation_is_refused_in_one_line(voc_root, build, file, edit, words) -> None:
    edit(voc_root / file)
    with pytest.raises(DataError) as err:
        build(voc_root)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_refusals_of_several_files_name_the_first_and_count_the_rest(voc_root: Path) -> None:
    for scene in ("train_000004", "train_000001"):
        _xml(_set(1, "bndbox/xmin", "x"))(voc_root / VOC12 / "Annotations" / f"{scene}.xml")
    with pytest.raises(DataError, match=r"train_000001\.xml: .*\(1 more annotations are refused"):
        voc_detection(voc_root, "train", classes=SCENE_CLASSES)
    for scene in ("train_000002", "train_000005"):
        _mask_pixels(12)(voc_root / MASK.format(scene))
    with pytest.raises(DataError, match=r"train_000002\.png: .*\(1 more masks hold ids out of"):
        voc_segmentation(voc_root, "train", classes=SCENE_CLASSES)


def test_xml_without_objects_reads_as_a_background_only_image(voc_root: Path) -> None:
    _xml(_no_objects)(voc_root / TRAIN_XML)
    image, target = voc_detection(voc_root, "train", classes=SCENE_CLASSES)[1]
    assert image.shape == (3, 64, 64)
    assert target["boxes"].shape == (0, 4) and target["boxes"].dtype == torch.float32
    assert target["labels"].shape == (0,) and target["labels"].dtype == torch.int64
    assert target["difficult"].shape == (0,) and target["difficult"].dtype == torch.bool
    assert (~target["difficult"]).shape == (0,)  # what crashed with a float `difficult`


def test_boxes_past_the_edge_are_clipped_to_the_image(voc_root: Path) -> None:
    edits = (("xmin", "0"), ("ymin", "-3"), ("xmax", "90"), ("ymax", "64.5"))
    _xml(lambda r: [_set(2, f"bndbox/{k}", v)(r) for k, v in edits])(voc_root / TRAIN_XML)
    _, target = voc_detection(voc_root, "train", classes=SCENE_CLASSES)[1]
    # 1-based (0, -3, 90, 64.5) -> 0-based (-1, -4, 90, 64.5) -> within the 64 x 64 image
    assert target["boxes"].tolist() == [[0, 38, 24, 62], [0, 0, 64, 64]]
    assert target["boxes"].canvas_size == (64, 64)


def _reads(monkeypatch: pytest.MonkeyPatch, name: str) -> list[tuple[str, ...]]:
    """Record the files `voc.<name>` (a per-file reader) is asked to read."""
    calls: list[tuple[str, ...]] = []
    reader = getattr(voc, name)
    monkeypatch.setattr(voc, name, lambda item: calls.append(item) or reader(item))
    return calls


def test_a_second_start_reads_only_changed_annotations(
    voc_root: Path, patchswap_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    masks, xmls = _reads(monkeypatch, "_mask_values"), _reads(monkeypatch, "_xml_names")
    voc_segmentation(voc_root, "train", classes=SCENE_CLASSES)
    voc_detection(voc_root, "train", classes=SCENE_CLASSES)
    assert len(masks) == len(xmls) == 6
    cached = sorted(p.name.split("-")[:2] for p in (patchswap_cache / CACHE_FOLDER).iterdir())
    assert cached == [["voc", "mask"], ["voc", "xml"]]
    masks.clear(), xmls.clear()
    voc_segmentation(voc_root, "train", classes=SCENE_CLASSES)
    voc_detection(voc_root, "train", classes=SCENE_CLASSES)
    assert masks == xmls == []  # nothing read: every file's size and mtime are as cached
    # the class range is checked against the cached ids, so fewer classes refuse without a read
    with pytest.raises(DataError, match="valid ids are 0-2 and 255"):
        voc_segmentation(voc_root, "train", classes=SCENE_CLASSES[:3])
    assert masks == []
    _xml(_no_objects)(voc_root / TRAIN_XML)  # one file changes: only it is read again
    _, target = voc_detection(voc_root, "train", classes=SCENE_CLASSES)[1]
    assert [Path(xml).name for xml, _ in xmls] == ["train_000001.xml"] and not len(target["boxes"])


def test_refusals_are_not_cached_and_a_fixed_file_is_read(
    voc_root: Path, patchswap_cache: Path
) -> None:
    good = (voc_root / TRAIN_XML).read_text()
    _xml(_set(2, "bndbox/xmax", "3"))(voc_root / TRAIN_XML)
    with pytest.raises(DataError, match="xmax 3 < xmin 33"):
        voc_detection(voc_root, "train", classes=SCENE_CLASSES)
    (cache,) = (patchswap_cache / CACHE_FOLDER).iterdir()
    entries = json.loads(cache.read_text())
    assert len(entries) == 5 and not any(k.endswith("train_000001.xml") for k in entries)
    with pytest.raises(DataError, match="xmax 3 < xmin 33"):  # refused again, not cached
        voc_detection(voc_root, "train", classes=SCENE_CLASSES)
    (voc_root / TRAIN_XML).write_text(good)
    assert len(voc_detection(voc_root, "train", classes=SCENE_CLASSES)) == 6


def test_bad_mask_stops_train_before_training_exit_2(voc_root, scene_overrides, tmp_path, capsys):
    _mask_pixels(30)(voc_root / "VOCdevkit/VOC2007/SegmentationClass/test_000001.png")
    overrides = [*scene_overrides, f"data.root={voc_root}", f"output_dir={tmp_path / 'runs'}"]
    args = ["train", "scenes/deeplabv3plus_resnet8", *[f"--set={o}" for o in overrides]]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("patchswap: error: "), err
    assert "SegmentationClass/test_000001.png: class id 30 is out of range" in err
    assert not list((tmp_path / "runs").rglob("*.pt"))  # refused before any step


def test_detection_trains_and_scores_with_background_only_images(
    voc_root, scene_overrides, tmp_path
):
    _xml(_no_objects)(voc_root / TRAIN_XML)
    _xml(_no_objects)(voc_root / "VOCdevkit/VOC2007/Annotations/test_000001.xml")
    overrides = [
        *scene_overrides,
        f"data.root={voc_root}",
        f"output_dir={tmp_path / 'runs'}",
        "batch_size=3",  # one batch of three holds the empty image, whatever the order
        "name=empty",
    ]
    summary = train(load_config(find_recipe("scenes/ssd_resnet8"), overrides), quiet=True)
    assert summary["epochs_done"] == 1 and math.isfinite(summary["last_map"])


def test_voc_ap_counts_detections_in_an_image_without_ground_truth_as_false() -> None:
    def boxes(*rows: list[float]) -> torch.Tensor:
        return torch.tensor(rows, dtype=torch.float32).reshape(-1, 4)

    with_truth = {
        "boxes": boxes([0, 0, 10, 10]),
        "labels": torch.tensor([1]),
        "difficult": torch.tensor([False]),
    }
    # the reader's empty target: (0, 4) float32 boxes, int64 labels, bool difficult
    empty = {"boxes": boxes(), "labels": torch.zeros(0, dtype=torch.int64)}
    empty["difficult"] = torch.zeros(0, dtype=torch.bool)
    hit = {
        "boxes": boxes([0, 0, 10, 10]),
        "scores": torch.tensor([0.8]),
        "labels": torch.tensor([1]),
    }
    nothing = {
        "boxes": boxes(),
        "scores": torch.zeros(0),
        "labels": torch.zeros(0, dtype=torch.int64),
    }

    def ap(preds: list[dict], targets: list[dict]) -> float:
        metric = VOCAveragePrecision(2)
        metric.update(preds, targets)
        return metric.compute().ap[1]

    assert ap([hit], [with_truth]) == 1.0
    assert ap([hit, nothing], [with_truth, empty]) == 1.0  # an empty image alone changes nothing
    above = dict(hit, scores=torch.tensor([0.9]))  # a false positive ranked above the hit
    assert ap([hit, above], [with_truth, empty]) == 0.5  # best precision at any recall: 1/2
    below = dict(hit, scores=torch.tensor([0.7]))  # ranked below: recall 1 already reached
    assert ap([hit, below], [with_truth, empty]) == 1.0
