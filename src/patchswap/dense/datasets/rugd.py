"""RUGD off-road segmentation in its release layout, on the paper's 6 coarse classes (Table 7).

RUGD (Wigness et al., IROS 2019, http://rugd.vision/) ships two zips: the annotated video
frames, `RUGD_frames-with-annotations/<sequence>/<sequence>_NNNNN.png`, and colour-coded masks
of the same names under `RUGD_annotations/`, whose `RUGD_annotation-colormap.txt` lists
`id name R G B` for void and the 24 classes. torchvision has no reader, so `RUGDSegmentation`
is a small one: it keeps the release layout (no converted copy of the masks), maps each
colour to its coarse class as it reads, and returns what `voc_segmentation` returns.

The coarse classes are GANav's 6 groups (Guan et al., RA-L 2022, the paper's [49], whose
setup Section 4.3 follows): `rugd_group6` in github.com/rayguan97/GANav-offroad,
`tools/convert_datasets/rugd_relabel6.py` (`Groups`, with void -> background) and
`mmseg/datasets/rugd_group6.py` (class order). They are Table 7's classes; the ids are
GANav's, so masks and predictions match its `*_group6.png` files (Table 8 lists them in the
order 1, 2, 3, 4, 5, 0). A colour that is in no colormap is ignored (255): RUGD's masks hold
colours, not ids, so there is no id to refuse; building a split still reads every annotation
once (`annotations`, cached), so one that is unreadable, not colour-coded or not the size of
its frame is refused in one line then, not mid-epoch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.datasets import VisionDataset
from torchvision.transforms.v2 import functional as F

from ...errors import DataError, unknown_name
from .annotations import Item, checked_facts, read_mask
from .voc import IGNORE_INDEX, Sample

FRAMES_DIR = "RUGD_frames-with-annotations"
ANNOTATIONS_DIR = "RUGD_annotations"
COLORMAP_FILE = "RUGD_annotation-colormap.txt"  # under ANNOTATIONS_DIR
RUGD_URL = "http://rugd.vision/"
MASK_MODES = ("RGB", "RGBA", "P")
MASK_HINT = "RUGD annotations are colour-coded RGB PNGs"

# RUGD_annotation-colormap.txt of the release: class id (line order) -> name, RGB
RUGD_COLORMAP: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("void", (0, 0, 0)), ("dirt", (108, 64, 20)), ("sand", (255, 229, 204)),
    ("grass", (0, 102, 0)), ("tree", (0, 255, 0)), ("pole", (0, 153, 153)),
    ("water", (0, 128, 255)), ("sky", (0, 0, 255)), ("vehicle", (255, 255, 0)),
    ("container/generic-object", (255, 0, 127)), ("asphalt", (64, 64, 64)),
    ("gravel", (255, 128, 0)), ("building", (255, 0, 0)), ("mulch", (153, 76, 0)),
    ("rock-bed", (102, 102, 0)), ("log", (102, 0, 0)), ("bicycle", (0, 255, 128)),
    ("person", (204, 153, 255)), ("fence", (102, 0, 204)), ("bush", (255, 153, 204)),
    ("sign", (0, 102, 102)), ("rock", (153, 204, 255)), ("bridge", (102, 255, 255)),
    ("concrete", (101, 101, 11)), ("picnic-table", (114, 85, 47)),
)  # fmt: skip
RUGD_CLASSES = tuple(name for name, _ in RUGD_COLORMAP)

# Table 7's coarse classes with GANav's ids (its "background", "L1".."L3", "non-Nav", "obstacle")
RUGD_COARSE_CLASSES = (
    "background", "smooth region", "rough region", "bumpy region", "forbidden region", "obstacle",
)  # fmt: skip
RUGD_COARSE_OF: dict[str, int] = {
    **dict.fromkeys(("void", "sky", "sign"), 0),
    **dict.fromkeys(("concrete", "asphalt"), 1),
    **dict.fromkeys(("gravel", "grass", "dirt", "sand", "mulch"), 2),
    **dict.fromkeys(("rock", "rock-bed"), 3),
    "water": 4,
    **dict.fromkeys(
        (
            "tree", "pole", "vehicle", "container/generic-object", "building", "log", "bicycle",
            "person", "fence", "bush", "picnic-table", "bridge",
        ),
        5,
    ),
}  # fmt: skip

# The authors' split (RUGD paper, by video sequence; GANav's train.txt, test.txt, val.txt)
RUGD_SPLITS: dict[str, tuple[str, ...]] = {
    "train": (
        "park-2", "trail", "trail-3", "trail-4", "trail-6", "trail-9", "trail-10", "trail-11",
        "trail-12", "trail-14", "trail-15", "village",
    ),
    "val": ("park-8", "trail-5"),
    "test": ("creek", "park-1", "trail-7", "trail-13"),
}  # fmt: skip


def read_colormap(path: Path) -> dict[tuple[int, int, int], str]:
    """`id name R G B` lines of RUGD_annotation-colormap.txt -> {RGB: name} (parsed, never run)."""
    colors: dict[tuple[int, int, int], str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            r, g, b = (int(value) for value in fields[-3:])
            valid = (
                len(fields) >= 5
                and int(fields[0]) >= 0
                and 0 <= min(r, g, b) <= max(r, g, b) <= 255
            )
        except ValueError:
            valid = False
        if not valid:
            raise DataError(f"{path}:{number}: {line.strip()!r} is not 'id name R G B'")
        colors[(r, g, b)] = " ".join(fields[1:-3])
    return colors


def coarse_lookup(colors: Mapping[tuple[int, int, int], str]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted packed colours (R<<16 | G<<8 | B, uint32) and their coarse class ids (uint8)."""
    unknown = sorted(set(colors.values()) - RUGD_COARSE_OF.keys())
    if unknown:
        raise DataError(
            f"RUGD colormap names {', '.join(unknown)} have no coarse class; known names: "
            f"{', '.join(RUGD_CLASSES)}"
        )
    items = sorted(((r << 16) | (g << 8) | b, RUGD_COARSE_OF[n]) for (r, g, b), n in colors.items())
    keys = np.array([key for key, _ in items], np.uint32)
    return keys, np.array([coarse for _, coarse in items], np.uint8)


def colors_to_coarse(rgb: np.ndarray, keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 colour-coded mask -> HxW uint8 coarse ids; colours not in `keys` -> 255."""
    packed = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8)
    packed |= rgb[..., 2]
    index = np.searchsorted(keys, packed).clip(max=len(keys) - 1)
    return np.where(keys[index] == packed, values[index], IGNORE_INDEX).astype(np.uint8)


class RUGDSegmentation(VisionDataset):
    """RUGD frames and colour-coded masks: items (Image uint8 3xHxW, Mask uint8 HxW coarse ids).

    `images` and `targets` are the PNG paths, as torchvision's segmentation sets keep them;
    `colors` maps each annotation colour to its RUGD class name.
    """

    def __init__(
        self,
        root: Path,
        frames: list[tuple[str, str]],
        colors: Mapping[tuple[int, int, int], str],
        transforms: Callable | None = None,
    ) -> None:
        super().__init__(str(root), transforms=transforms)
        self.colors = dict(colors)
        self.keys, self.values = coarse_lookup(self.colors)
        self.images = [str(root / FRAMES_DIR / seq / f"{frame}.png") for seq, frame in frames]
        self.targets = [str(root / ANNOTATIONS_DIR / seq / f"{frame}.png") for seq, frame in frames]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Sample:
        with Image.open(self.images[index]) as image:
            pixels = F.pil_to_tensor(image.convert("RGB"))
        with Image.open(self.targets[index]) as mask:
            if mask.mode not in MASK_MODES:
                raise DataError(
                    f"RUGD annotation {self.targets[index]} is a {mask.mode} image; {MASK_HINT}"
                )
            rgb = np.asarray(mask.convert("RGB"))
        coarse = colors_to_coarse(rgb, self.keys, self.values)
        sample = (tv_tensors.Image(pixels), tv_tensors.Mask(torch.from_numpy(coarse)))
        return self.transforms(*sample) if self.transforms is not None else sample


def _readable(item: Item) -> None:
    """Nothing to keep: the annotation decodes, is colour-coded and has its frame's size."""
    mask, image = item
    read_mask(mask, image, MASK_MODES, MASK_HINT)


def _sequence_frames(root: Path, sequence: str) -> list[str]:
    """The frame names `<sequence>_NNNNN` of one sequence's frames folder, sorted.

    Only names of that form are frames: anything else a user left there (a preview, a
    thumbnail cache) is skipped rather than read as a frame without a mask.
    """
    pattern = re.compile(rf"{re.escape(sequence)}_\d+\.png")
    folder = root / FRAMES_DIR / sequence
    return sorted(p.name[:-4] for p in folder.iterdir() if pattern.fullmatch(p.name))


def _entries(split_file: Path) -> list[str]:
    """Lines of a split file: a sequence (`creek`) or a frame (`creek/creek_00001[.png]`)."""
    if not split_file.is_file():
        raise DataError(f"RUGD split file {split_file} not found")
    return [line.strip().removesuffix(".png") for line in split_file.read_text().splitlines()]


def _frames(root: Path, split: str, entries: Iterable[str]) -> list[tuple[str, str]]:
    """(sequence, frame) pairs of `entries`, after checking their folders and files exist."""
    frames: list[tuple[str, str]] = []
    missing: list[str] = []
    for entry in filter(None, entries):
        sequence, _, frame = entry.partition("/")
        folders = [root / FRAMES_DIR / sequence, root / ANNOTATIONS_DIR / sequence]
        missing += [str(folder) for folder in folders if not folder.is_dir()]
        if frame:
            frames.append((sequence, frame))
        elif folders[0].is_dir():
            frames += [(sequence, name) for name in _sequence_frames(root, sequence)]
    if missing:
        missing = list(dict.fromkeys(missing))
        more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        raise DataError(
            f"RUGD {split}: sequence folders {', '.join(missing[:4])}{more} are missing; "
            f"unzip both RUGD zips from {RUGD_URL} into {root} whole"
        )
    absent = [
        str(path)
        for sequence, frame in frames
        for path in (
            root / FRAMES_DIR / sequence / f"{frame}.png",
            root / ANNOTATIONS_DIR / sequence / f"{frame}.png",
        )
        if not path.is_file()
    ]
    if absent:
        raise DataError(
            f"{len(absent)} RUGD {split} files are missing, first {absent[0]}; restore them "
            f"from the zips at {RUGD_URL}"
        )
    if not frames:
        raise DataError(f"RUGD {split} has no frames under {root / FRAMES_DIR}")
    return frames


def rugd_segmentation(
    root: str | Path,
    split: str = "train",
    transforms: Callable | None = None,
    *,
    split_file: str | Path | None = None,
) -> RUGDSegmentation:
    """RUGD under `root` on Table 7's coarse classes: items (Image, Mask), then `transforms`.

    `split` is the authors' split by sequence (`RUGD_SPLITS`; by GANav's lists, train is 4,779
    frames of 12 sequences, val 733 of park-8 and trail-5, test 1,924 of creek, park-1, trail-7
    and trail-13), which keeps each video in one split. `split_file` replaces it: one entry a
    line, a sequence name or a frame `<seq>/<seq>_NNNNN` (`.png` optional), so GANav's frame
    lists (`train_ours.txt`, ...) load as they are; `split` then only names the set in
    messages. The colormap file, when present, decides the colours; without it, the release's
    (`RUGD_COLORMAP`).
    """
    root = Path(root).expanduser()
    if split_file is None and split not in RUGD_SPLITS:
        raise unknown_name("RUGD split", split, list(RUGD_SPLITS))
    expected = [root / FRAMES_DIR, root / ANNOTATIONS_DIR]
    missing = [str(path) for path in expected if not path.is_dir()]
    if missing:
        raise DataError(
            f"RUGD not found in {root}: expected {', '.join(missing)}; download "
            f"{FRAMES_DIR}.zip and {ANNOTATIONS_DIR}.zip from {RUGD_URL} and unzip both into "
            "that root"
        )
    entries = RUGD_SPLITS[split] if split_file is None else _entries(Path(split_file))
    frames = _frames(root, split, entries)
    colormap = root / ANNOTATIONS_DIR / COLORMAP_FILE
    colors = (
        read_colormap(colormap)
        if colormap.is_file()
        else {rgb: name for name, rgb in RUGD_COLORMAP}
    )
    if not colors:
        raise DataError(f"{colormap} lists no colours; RUGD's lists void and 24 classes")
    dataset = RUGDSegmentation(root, frames, colors, transforms)
    checked_facts("rugd-mask", root, list(zip(dataset.targets, dataset.images)), _readable)
    return dataset
