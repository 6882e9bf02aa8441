"""Draw docs/transfer/example_scenes.png: four val scenes, their class masks, overlays and boxes.

Run from the repository root: `python docs/transfer/make_example.py` (needs Fashion-MNIST).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from patchswap.dense.datasets.scenes import write_scenes
from patchswap.dense.datasets.voc import SCENE_CLASSES, voc_detection, voc_palette, voc_segmentation

ZOOM = 4
OUT = Path(__file__).with_name("example_scenes.png")


def main() -> None:
    palette = voc_palette()
    with tempfile.TemporaryDirectory() as root:
        write_scenes(root, train=0, val=4, seed=0)
        masks = voc_segmentation(root, "val")
        boxes = voc_detection(root, "val", classes=SCENE_CLASSES)
        rows = []
        for (image, mask), (_, target) in zip(masks, boxes):
            grey = image.permute(1, 2, 0).numpy()
            colours = palette[mask.numpy()]
            overlay = np.where(mask.numpy()[..., None] > 0, 0.4 * grey + 0.6 * colours, grey)
            panels = [Image.fromarray(a.astype(np.uint8)) for a in (grey, colours, overlay)]
            panels = [p.resize((p.width * ZOOM, p.height * ZOOM), Image.NEAREST) for p in panels]
            draw = ImageDraw.Draw(panels[2])
            for box, label, difficult in zip(
                target["boxes"].tolist(), target["labels"].tolist(), target["difficult"].tolist()
            ):
                x0, y0, x1, y1 = (v * ZOOM for v in box)
                draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline="yellow" if difficult else "lime")
                draw.text((x0 + 2, y0 + 1), SCENE_CLASSES[label], fill="white")
            row = Image.new("RGB", (sum(p.width for p in panels) + 8, panels[0].height))
            for i, panel in enumerate(panels):
                row.paste(panel, (i * (panel.width + 4), 0))
            rows.append(row)
    sheet = Image.new("RGB", (rows[0].width, sum(r.height + 4 for r in rows) - 4))
    for i, row in enumerate(rows):
        sheet.paste(row, (0, i * (row.height + 4)))
    sheet.save(OUT, optimize=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
