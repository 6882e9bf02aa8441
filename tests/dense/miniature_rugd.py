"""A RUGD miniature in the release layout: `rugd_root` (conftest.py) writes it for the
reader's tests and the recipe test."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
from PIL import Image

# RUGD_annotations/RUGD_annotation-colormap.txt as the release ships it
COLORMAP = """0 void 0 0 0
1 dirt 108 64 20
2 sand 255 229 204
3 grass 0 102 0
4 tree 0 255 0
5 pole 0 153 153
6 water 0 128 255
7 sky 0 0 255
8 vehicle 255 255 0
9 container/generic-object 255 0 127
10 asphalt 64 64 64
11 gravel 255 128 0
12 building 255 0 0
13 mulch 153 76 0
14 rock-bed 102 102 0
15 log 102 0 0
16 bicycle 0 255 128
17 person 204 153 255
18 fence 102 0 204
19 bush 255 153 204
20 sign 0 102 102
21 rock 153 204 255
22 bridge 102 255 255
23 concrete 101 101 11
24 picnic-table 114 85 47
"""
COLORS = {
    line.split()[1]: tuple(int(v) for v in line.split()[2:]) for line in COLORMAP.splitlines()
}
# Table 7 of the paper, in GANav's ids (0 background, 1 SR, 2 RR, 3 BR, 4 FR, 5 obstacle)
TABLE_7 = {
    0: ("void", "sky", "sign"),
    1: ("concrete", "asphalt"),
    2: ("gravel", "grass", "dirt", "sand", "mulch"),
    3: ("rock", "rock-bed"),
    4: ("water",),
    5: (
        "tree", "pole", "vehicle", "container/generic-object", "building", "log", "bicycle",
        "person", "fence", "bush", "picnic-table", "bridge",
    ),
}  # fmt: skip
COARSE = {name: coarse for coarse, names in TABLE_7.items() for name in names}
FRAMES = {"trail-3": (1, 6, 11), "village": (1, 6), "park-8": (1, 6), "creek": (1, 6, 11)}
H, W = 44, 55  # RUGD's 550 x 688, a tenth


def _frame(sequence: str, number: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Photo, colour-coded annotation and expected coarse mask of one frame: 11 x 11 blocks of
    RUGD colours drawn from (sequence, number); the photo's grey encodes the coarse id."""
    rng = np.random.default_rng(zlib.crc32(f"{sequence}/{number}".encode()))
    names = rng.choice(list(COLORS), size=(H // 11, W // 11))
    block = np.ones((11, 11), np.uint8)
    colors = np.array([[COLORS[n] for n in row] for row in names], np.uint8)
    annotation = np.stack([np.kron(colors[..., c], block) for c in range(3)], -1)
    coarse = np.kron(np.vectorize(COARSE.get)(names).astype(np.uint8), block)
    photo = np.repeat((coarse * 40 + 20)[..., None], 3, 2).astype(np.uint8)
    return photo, annotation, coarse


def _write_frame(root: Path, sequence: str, number: int) -> None:
    """One frame as the release stores it: the photo and its annotation, same file name."""
    photo, annotation, _ = _frame(sequence, number)
    stem = f"{sequence}_{number:05d}.png"
    for folder, pixels in (
        ("RUGD_frames-with-annotations", photo),
        ("RUGD_annotations", annotation),
    ):
        (root / folder / sequence).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(root / folder / sequence / stem)
