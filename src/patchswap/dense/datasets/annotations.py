"""One pass over a split's annotations before training: each is read, or refused in one line.

A mask holding a class id the model has no output for, or a box with xmax < xmin, otherwise
fails (or trains on garbage) at the item that holds it, mid-epoch. The readers (`voc`,
`cityscapes`, `rugd`) call `checked_facts` when a dataset is built: it reads every annotation
once, in threads, and keeps what the checks need (a mask's distinct values, an XML's object
names) in `cache_dir()/dense-annotations/`, keyed by each file's path, size and mtime, so a
second start reads only new or changed files. Refusals are never cached: a fixed file is read
again because fixing it changed its size or mtime.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ...data.files import cache_dir
from ...errors import DataError
from ...infra.atomic_files import atomic_write_text

# Bump when what a reader returns or refuses changes: older cache entries are then ignored.
CHECKS_VERSION = 1
CACHE_FOLDER = "dense-annotations"
Item = tuple[str, ...]  # the files one check reads; the first is the annotation it names


def _signature(item: Item) -> list[list[int]]:
    """Size and mtime (ns) of each file of `item`: a changed file is read again."""
    stats = [os.stat(path) for path in item]
    return [[stat.st_size, stat.st_mtime_ns] for stat in stats]


def cache_path(kind: str, root: str | Path) -> Path:
    """The cache file of one kind of annotation under one dataset root."""
    key = f"{CHECKS_VERSION}\0{kind}\0{Path(root).expanduser().resolve()}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir() / CACHE_FOLDER / f"{kind}-{digest}.json"


def _load(path: Path) -> dict[str, Any]:
    """The cached entries, or none if the file is missing or unreadable (it is only a cache)."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def _attempt(read: Callable[[Item], Any], item: Item) -> Any:
    """`read(item)`, or the DataError that refuses it (read errors of the libraries included)."""
    try:
        return read(item)
    except DataError as err:
        return err
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        return DataError(f"cannot read {item[0]}: {reason}")


def checked_facts(
    kind: str, root: str | Path, items: Sequence[Item], read: Callable[[Item], Any]
) -> list[Any]:
    """`read(item)` for every item, from the cache where its files are unchanged.

    `read` returns JSON-able facts or raises DataError; the first refusal in the items' order
    is raised, with the count of the others, after the accepted ones are cached.
    """
    where = cache_path(kind, root)
    cached = _load(where)
    try:
        signatures = [_signature(item) for item in items]
    except OSError as err:
        raise DataError(f"cannot read {err.filename}: {err.strerror}") from err
    facts: list[Any] = [None] * len(items)
    todo = []
    for i, (item, signature) in enumerate(zip(items, signatures)):
        entry = cached.get(item[0])
        if isinstance(entry, list) and len(entry) == 2 and entry[0] == signature:
            facts[i] = entry[1]
        else:
            todo.append(i)
    if not todo:
        return facts
    workers = min(8, os.cpu_count() or 1, len(todo))
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda i: _attempt(read, items[i]), todo))
    refused = []
    for i, result in zip(todo, results):
        if isinstance(result, DataError):
            refused.append(result)
        else:
            facts[i] = result
            cached[items[i][0]] = [signatures[i], result]
    if len(refused) < len(todo):
        # a cache that cannot be written only costs the next start another pass
        with contextlib.suppress(OSError):
            atomic_write_text(where, json.dumps(cached, separators=(",", ":")))
    if refused:
        others = len(refused) - 1
        more = f" ({others} more annotations are refused too)" if others else ""
        raise DataError(f"{refused[0]}{more}")
    return facts


def read_mask(mask: str, image: str, modes: tuple[str, ...], hint: str) -> np.ndarray:
    """The pixels of `mask`, after checking its mode and that its size is its image's.

    `hint` says what the set's masks are, for a mask of another mode; the image is opened for
    its header only.
    """
    with Image.open(image) as photo:
        size = photo.size
    with Image.open(mask) as opened:
        if opened.mode not in modes:
            raise DataError(f"mask {mask!r} is a {opened.mode} image; {hint}")
        if opened.size != size:
            raise DataError(
                f"mask {mask} is {opened.size[0]}x{opened.size[1]} pixels but its image {image} "
                f"is {size[0]}x{size[1]}"
            )
        return np.asarray(opened)


def distinct_values(pixels: np.ndarray) -> list[int]:
    """The values an 8-bit mask holds, ascending."""
    return np.flatnonzero(np.bincount(pixels.ravel(), minlength=256)).tolist()


def refuse_ids(
    masks: Sequence[str],
    values: Sequence[list[int]],
    valid: set[int],
    describe: str,
    noun: str = "class id",
) -> None:
    """DataError for the first mask holding a value outside `valid`, naming the file and ids.

    `describe` says what the valid ids are, e.g. 'valid ids are 0-20 and 255 (void)'.
    """
    bad = [(mask, [v for v in found if v not in valid]) for mask, found in zip(masks, values)]
    bad = [(mask, ids) for mask, ids in bad if ids]
    if not bad:
        return
    mask, ids = bad[0]
    said = f"{noun} {ids[0]} is" if len(ids) == 1 else f"{noun}s {', '.join(map(str, ids))} are"
    more = f" ({len(bad) - 1} more masks hold ids out of range)" if len(bad) > 1 else ""
    raise DataError(f"{mask}: {said} out of range; {describe}{more}")
