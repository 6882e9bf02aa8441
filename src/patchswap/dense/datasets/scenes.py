"""Fashion-MNIST scenes: a dense task from real images, written in the Pascal VOC layout.

The paper's VOC, Cityscapes and RUGD cannot be had here; scenes exercise the same loaders,
metrics and commands on real pixels. Each scene is deterministic from (seed, split, index):

- a `size` x `size` grey canvas (stored as an RGB JPEG, as VOC's photographs) with a textured
  background (smooth blobs, a grating, pixel noise), so a mask cannot come from a threshold;
- 1-4 items, each a Fashion-MNIST image rescaled 0.8-1.6x; an item's silhouette is its pixels
  of intensity >= 32/255 plus the holes they enclose;
- placed uniformly, its silhouette's box leaving the canvas by at most 20% of its height and
  width (VOC `truncated`); a new item may cover at most half of the still-visible pixels of each
  earlier one (20 draws, else the scene keeps the items it has);
- void (255) on a 1-pixel band outside each item's visible region, over the background or the
  items behind it, as VOC marks object borders;
- one object per item: its box is the tight box of its visible non-void pixels, `difficult`
  when less than 40% of its silhouette is visible (covered or off the canvas).

Train scenes draw items from the Fashion-MNIST training images; val and test scenes from two
disjoint halves of its test images, so no image appears in two splits. Train and val go to
`VOCdevkit/VOC2012` (as VOC 2012's segmentation train/val); test scenes, when asked for, to
`VOCdevkit/VOC2007` as VOC07's test set, which torchvision reads with year 2007.

`patchswap scenes ROOT` (the CLI) calls `write_scenes`.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from ...config import DataConfig
from ...data.fashion_mnist import load_fashion_mnist
from ...errors import DataError, PatchswapError
from ...infra.atomic_files import atomic_write, atomic_write_text
from .voc import SCENE_CLASSES, voc_palette

THRESHOLD = 32  # intensity (of 255) from which a pixel belongs to an item
SCALES = (0.8, 1.6)
MAX_ITEMS = 4
MAX_COVER = 0.5  # share of an earlier item's visible pixels a new item may cover
MAX_OVERHANG = 0.2  # share of a silhouette's height/width that may leave the canvas
DIFFICULT_BELOW = 0.4  # visible share of the silhouette under which an object is difficult
DRAWS = 20  # placements tried per item
MIN_SIZE = 48  # the largest item (45 px) must fit
VOID = 255
# split -> (VOC year folder, code in the scene's random stream)
SPLITS = {"train": ("2012", 0), "val": ("2012", 1), "test": ("2007", 2)}
MANIFEST = "fashion_mnist_scenes.json"
# The generator's name in every manifest and XML (this module's path when sets were first
# written): kept as it is, so a set written before is still recognised, not refused
GENERATOR = "patchswap.dense.scenes"
PALETTE = voc_palette().tobytes()


@dataclass(frozen=True)
class SceneObject:
    """One item as VOC annotates it."""

    label: int  # Fashion-MNIST class 0..9; class id in masks and SCENE_CLASSES index: label + 1
    source: int  # index of its image in the Fashion-MNIST split it was drawn from
    box: tuple[int, int, int, int]  # xmin, ymin, xmax, ymax: 1-based, inclusive (VOC's bndbox)
    truncated: bool
    difficult: bool


@dataclass(frozen=True)
class Scene:
    """One rendered scene: the image and its VOC masks."""

    image: np.ndarray  # (size, size) uint8 grey
    classes: np.ndarray  # (size, size) uint8: 0 background, label + 1, 255 void
    instances: np.ndarray  # (size, size) uint8: k for objects[k - 1], 0 background, 255 void
    objects: tuple[SceneObject, ...]


def _on_canvas(patch: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    """`patch` with its corner at (top, left) on a zero `size` x `size` canvas, clipped."""
    out = np.zeros((size, size), patch.dtype)
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + patch.shape[0], size), min(left + patch.shape[1], size)
    if r0 < r1 and c0 < c1:
        out[r0:r1, c0:c1] = patch[r0 - top : r1 - top, c0 - left : c1 - left]
    return out


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Grey texture in about [0, 255]: smooth blobs, a grating of random angle, pixel noise."""
    coarse = rng.uniform(0, 255, (5, 5)).astype(np.float32)
    blobs = np.asarray(Image.fromarray(coarse).resize((size, size), Image.BICUBIC))
    y, x = np.mgrid[0:size, 0:size]
    angle, period, phase = rng.uniform(0, np.pi), rng.uniform(4, 12), rng.uniform(0, 2 * np.pi)
    grating = np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period + phase)
    return (
        rng.uniform(20, 90)
        + 0.5 * blobs
        + rng.uniform(5, 30) * grating
        + rng.normal(0, 8, (size, size))
    )


@dataclass(frozen=True)
class _Item:
    """An item placed on the canvas (arrays are canvas-sized)."""

    source: int
    intensity: np.ndarray  # its rescaled Fashion-MNIST pixels, float
    alpha: np.ndarray  # 1 on its silhouette, fading with intensity on the faint rim outside
    silhouette: np.ndarray  # bool, the part on the canvas
    area: int  # silhouette pixels, on and off the canvas


def _draw_item(
    rng: np.random.Generator, images: np.ndarray, pool: np.ndarray, owner: np.ndarray
) -> _Item | None:
    """A random item and position covering at most `MAX_COVER` of what each earlier one shows.

    Tries `DRAWS` items and positions; None when none fits.
    """
    size = owner.shape[0]
    visible = np.bincount(owner.ravel(), minlength=owner.max() + 1)[1:]
    for _ in range(DRAWS):
        source = int(pool[rng.integers(len(pool))])
        side = round(28 * rng.uniform(*SCALES))
        intensity = np.asarray(Image.fromarray(images[source]).resize((side, side), Image.BILINEAR))
        silhouette = ndimage.binary_fill_holes(intensity >= THRESHOLD)
        rows, cols = np.flatnonzero(silhouette.any(1)), np.flatnonzero(silhouette.any(0))
        if not len(rows):
            continue
        margin_r = int(MAX_OVERHANG * (rows[-1] - rows[0] + 1))
        margin_c = int(MAX_OVERHANG * (cols[-1] - cols[0] + 1))
        top = int(rng.integers(-margin_r - rows[0], size + margin_r - rows[-1]))
        left = int(rng.integers(-margin_c - cols[0], size + margin_c - cols[-1]))
        placed = _on_canvas(silhouette, top, left, size)
        covered = np.bincount(owner[placed], minlength=len(visible) + 1)[1:]
        if np.all(covered <= MAX_COVER * visible):
            alpha = np.where(silhouette, 1.0, intensity / THRESHOLD)
            return _Item(
                source,
                _on_canvas(intensity.astype(np.float64), top, left, size),
                _on_canvas(alpha, top, left, size),
                placed,
                int(silhouette.sum()),
            )
    return None


def _objects(
    owner: np.ndarray, void: np.ndarray, items: list[_Item], labels: np.ndarray
) -> tuple[list[SceneObject], np.ndarray]:
    """The VOC objects of the placed items and the instance map numbering them from 1.

    An item left with no visible non-void pixel (not met under the cover and overhang rules,
    but not excluded by construction) gets no object, and its pixels count as background.
    """
    objects: list[SceneObject] = []
    instances = np.zeros(owner.shape, np.uint8)
    for k, item in enumerate(items, start=1):
        visible = (owner == k) & ~void
        if not visible.any():
            continue
        rows, cols = np.flatnonzero(visible.any(1)), np.flatnonzero(visible.any(0))
        objects.append(
            SceneObject(
                label=int(labels[item.source]),
                source=item.source,
                box=(int(cols[0]) + 1, int(rows[0]) + 1, int(cols[-1]) + 1, int(rows[-1]) + 1),
                truncated=int(item.silhouette.sum()) < item.area,
                difficult=visible.sum() < DIFFICULT_BELOW * item.area,
            )
        )
        instances[visible] = len(objects)
    instances[void] = VOID
    return objects, instances


def render_scene(
    rng: np.random.Generator, images: np.ndarray, labels: np.ndarray, pool: np.ndarray, size: int
) -> Scene:
    """A `size` x `size` scene whose items come from `images[pool]` (N x 28 x 28 uint8).

    The rules are the module's; `rng` is the scene's own stream, so scenes are independent.
    """
    canvas = _background(rng, size)
    owner = np.zeros((size, size), np.int64)  # 1 + index of the item a pixel shows, 0 background
    items: list[_Item] = []
    for _ in range(rng.integers(1, MAX_ITEMS + 1)):
        item = _draw_item(rng, images, pool, owner)
        if item is None:
            break
        value = rng.uniform(0, 60) + rng.uniform(0.5, 1.0) * item.intensity  # offset, gain
        canvas = canvas * (1 - item.alpha) + item.alpha * value
        owner[item.silhouette] = len(items) + 1
        items.append(item)
    # void: pixels with an 8-neighbour that shows an item drawn after (in front of) theirs
    void = ndimage.maximum_filter(owner, size=3, mode="constant") > owner
    objects, instances = _objects(owner, void, items, labels)
    lut = np.array([0] + [labels[item.source] + 1 for item in items], np.uint8)
    classes = np.where(instances > 0, lut[owner], 0).astype(np.uint8)
    classes[void] = VOID
    image = np.clip(np.round(canvas), 0, 255).astype(np.uint8)
    return Scene(image, classes, instances, tuple(objects))


def load_fashion_mnist_arrays(root: str | Path | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{'train' | 't10k': (images N x 28 x 28 uint8, labels N)} through the project's reader.

    `root` as `data.root` (None: the Debian package's folder, then ./data).
    """
    cfg = DataConfig(name="fashion_mnist", root=None if root is None else str(root))
    source = load_fashion_mnist(cfg)
    return {
        "train": (source.train.data.numpy(), source.train.targets.numpy()),
        "t10k": (source.test.data.numpy(), source.test.targets.numpy()),
    }


def split_pools(n_train: int, n_test: int, seed: int) -> dict[str, tuple[str, np.ndarray]]:
    """Scene split -> (Fashion-MNIST split, indices its items are drawn from).

    Val and test get two disjoint halves of the test images (a seeded permutation), so a
    model selected on val is never scored on an item it was selected with.
    """
    order = np.random.default_rng([seed, len(SPLITS)]).permutation(n_test)
    return {
        "train": ("train", np.arange(n_train)),
        "val": ("t10k", np.sort(order[: n_test // 2])),
        "test": ("t10k", np.sort(order[n_test // 2 :])),
    }


def _annotation(folder: str, scene_id: str, scene: Scene, database: str) -> bytes:
    """The scene's VOC XML annotation (the release's tags and order, tab-indented)."""
    root = ET.Element("annotation")

    def add(parent: ET.Element, tag: str, text: object = None) -> ET.Element:
        element = ET.SubElement(parent, tag)
        if text is not None:
            element.text = str(text)
        return element

    add(root, "folder", folder)
    add(root, "filename", f"{scene_id}.jpg")
    source = add(root, "source")
    add(source, "database", "Fashion-MNIST scenes")
    add(source, "annotation", GENERATOR)
    add(
        source,
        "image",
        " ".join([f"fashion-mnist {database}", *(str(o.source) for o in scene.objects)]),
    )
    height, width = scene.image.shape
    size = add(root, "size")
    for tag, value in (("width", width), ("height", height), ("depth", 3)):
        add(size, tag, value)
    add(root, "segmented", 1)
    for obj in scene.objects:
        element = add(root, "object")
        add(element, "name", SCENE_CLASSES[obj.label + 1])
        add(element, "pose", "Unspecified")
        add(element, "truncated", int(obj.truncated))
        add(element, "difficult", int(obj.difficult))
        box = add(element, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), obj.box):
            add(box, tag, value)
    ET.indent(root, "\t")
    return ET.tostring(root, encoding="unicode").encode() + b"\n"


def _write_image(path: Path, image: Image.Image, **options: object) -> None:
    """Save `image` atomically in the format PIL associates with the file's extension."""
    image_format = Image.registered_extensions()[path.suffix]
    atomic_write(path, lambda out: image.save(out, format=image_format, **options))


def _palette_png(values: np.ndarray) -> Image.Image:
    image = Image.fromarray(values)
    image.putpalette(PALETTE)
    return image


def _write_scene(voc: Path, scene_id: str, scene: Scene, database: str) -> None:
    """The scene's JPEG, class and object masks (palette PNGs) and XML, each atomically."""
    _write_image(
        voc / "JPEGImages" / f"{scene_id}.jpg",
        Image.fromarray(scene.image).convert("RGB"),
        quality=95,
    )
    _write_image(voc / "SegmentationClass" / f"{scene_id}.png", _palette_png(scene.classes))
    _write_image(voc / "SegmentationObject" / f"{scene_id}.png", _palette_png(scene.instances))
    atomic_write(
        voc / "Annotations" / f"{scene_id}.xml",
        lambda out: out.write(_annotation(voc.name, scene_id, scene, database)),
    )


def _write_lists(voc: Path, sets: dict[str, list[tuple[str, tuple[SceneObject, ...]]]]) -> None:
    """ImageSets: Segmentation/<set>.txt, Main/<set>.txt and Main/<class>_<set>.txt.

    The per-class lists flag each image 1 (holds the class), -1 (does not) or 0 (only as
    difficult objects), as VOC's. Written last: a set is listed only once its files exist.
    """
    for name, scenes in sets.items():
        ids = "".join(f"{scene_id}\n" for scene_id, _ in scenes)
        atomic_write_text(voc / "ImageSets" / "Segmentation" / f"{name}.txt", ids)
        for label, class_name in enumerate(SCENE_CLASSES[1:]):
            lines = []
            for scene_id, objects in scenes:
                flags = [not o.difficult for o in objects if o.label == label]
                lines.append(f"{scene_id} {1 if any(flags) else 0 if flags else -1:2d}\n")
            atomic_write_text(
                voc / "ImageSets" / "Main" / f"{class_name}_{name}.txt", "".join(lines)
            )
        atomic_write_text(voc / "ImageSets" / "Main" / f"{name}.txt", ids)


def _describe(manifest: dict) -> str:
    counts = " / ".join(f"{manifest[s]} {s}" for s in SPLITS)
    return (
        f"seed {manifest['seed']}, size {manifest['size']}, {counts} scenes from Fashion-MNIST "
        f"{manifest['fashion_mnist']}"
    )


def _claim(devkit: Path, manifest: dict) -> bool:
    """Whether `devkit` already holds exactly this scene set; claims it when it holds none.

    Raises when it holds another scene set or a VOC set these scenes did not write: never
    overwrite data that is not ours to regenerate.
    """
    path = devkit / MANIFEST
    if path.is_file():
        try:
            found = json.loads(path.read_text())
        except ValueError:
            found = {}
        if found != manifest:
            shown = (
                _describe(found) if found.keys() == manifest.keys() else "an unreadable manifest"
            )
            raise DataError(
                f"{devkit} already holds other Fashion-MNIST scenes ({shown}), not the ones asked "
                f"for ({_describe(manifest)}); pass another root or delete {devkit}"
            )
        return True
    for year in sorted({year for year, _ in SPLITS.values()}):
        if (devkit / f"VOC{year}").exists():
            raise DataError(
                f"{devkit / f'VOC{year}'} exists but was not written by this generator (no "
                f"{MANIFEST}); pass another root so the scenes do not mix with it"
            )
    atomic_write_text(path, json.dumps(manifest, indent=1) + "\n")
    return False


def _fingerprint(arrays: dict[str, tuple[np.ndarray, np.ndarray]]) -> str:
    """A short hash of the Fashion-MNIST pixels and labels: scenes depend on them too."""
    digest = hashlib.blake2b(digest_size=8)
    for images, labels in arrays.values():
        digest.update(np.ascontiguousarray(images).tobytes())
        digest.update(np.ascontiguousarray(labels).tobytes())
    return digest.hexdigest()


def write_scenes(
    root: str | Path,
    fashion_mnist_root: str | Path | None = None,
    *,
    train: int,
    val: int,
    test: int = 0,
    seed: int = 0,
    size: int = 64,
) -> Path:
    """Write Fashion-MNIST scenes under `root/VOCdevkit`; returns that folder.

    Files are written atomically, the image lists last; a root holding the same set (same
    arguments and Fashion-MNIST) is left as it is, an interrupted one is completed, and one
    holding anything else is refused.
    """
    counts = {"train": train, "val": val, "test": test}
    if min(counts.values()) < 0 or not sum(counts.values()):
        raise PatchswapError(f"scene counts must be >= 0 and not all 0, got {counts}")
    if size < MIN_SIZE:
        raise PatchswapError(
            f"scene size must be at least {MIN_SIZE} (items reach 45 px), got {size}"
        )
    arrays = load_fashion_mnist_arrays(fashion_mnist_root)
    manifest = {
        "generator": GENERATOR,
        "version": 1,
        "seed": seed,
        "size": size,
        **counts,
        "fashion_mnist": _fingerprint(arrays),
    }
    devkit = Path(root).expanduser() / "VOCdevkit"
    sets = _image_sets(counts)
    if _claim(devkit, manifest) and all(
        (devkit / f"VOC{year}" / "ImageSets" / "Main" / f"{name}.txt").is_file()
        for year, names in sets.items()
        for name in names
    ):
        return devkit
    pools = split_pools(len(arrays["train"][1]), len(arrays["t10k"][1]), seed)
    written: dict[str, list[tuple[str, tuple[SceneObject, ...]]]] = {}
    for split, count in counts.items():
        year, code = SPLITS[split]
        database, pool = pools[split]
        images, labels = arrays[database]
        written[split] = []
        for index in range(count):
            scene_id = f"{split}_{index:06d}"
            rng = np.random.default_rng([seed, code, index])
            scene = render_scene(rng, images, labels, pool, size)
            _write_scene(devkit / f"VOC{year}", scene_id, scene, database)
            written[split].append((scene_id, scene.objects))
    written["trainval"] = written["train"] + written["val"]
    for year, names in sets.items():
        _write_lists(devkit / f"VOC{year}", {name: written[name] for name in names})
    return devkit


def _image_sets(counts: dict[str, int]) -> dict[str, list[str]]:
    """VOC year -> the image sets written there: VOC 2012's train/val/trainval, VOC07's test."""
    sets = {"2012": ["train", "val", "trainval"]}
    if counts["test"]:
        sets["2007"] = ["test"]
    return sets
