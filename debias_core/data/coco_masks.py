"""COCO segmentations: checked before use, decoded with pycocotools when the store copies them.

A COCO annotation's `segmentation` is one of
- polygons: a list of rings `[x1, y1, x2, y2, ...]` in pixel coordinates (things);
- uncompressed RLE: `{"size": [h, w], "counts": [n0, n1, ...]}`, alternating runs of 0 and 1 in
  column-major order (crowd things);
- compressed RLE: the same runs packed into a string (all of COCO-Stuff's stuff annotations).

pycocotools trusts its input: runs that fall short of h * w decode into uninitialised memory,
and a polygon with a NaN or a huge coordinate exhausts memory while it is rasterised. So every
segmentation is checked here first (runs summing to exactly h * w, finite coordinates near the
image), and `pixels` only ever decodes checked data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from debias_core.data.base import DatasetError

# How far a polygon point may lie outside the image, in image sizes: rasterising costs time in
# proportion to a ring's length, so a point a billion pixels away is refused, not drawn.
POLYGON_MARGIN = 1.0
_MAX_CHARS_PER_RUN = 7  # 35 bits: more than any count an image of MAX_PIXELS needs


@dataclass(frozen=True)
class Checked:
    """A segmentation after its checks: pycocotools input, or nothing to draw."""

    kind: str  # 'polygon' | 'rle'
    data: Any  # polygon: tuple of rings (lists of floats); rle: a pycocotools RLE dict
    degenerate_rings: int = 0  # polygon rings of fewer than three points, skipped


def check_segmentation(seg: Any, height: int, width: int, where: str) -> Checked:
    """Check one annotation's `segmentation` for an image of `height` x `width`."""
    if isinstance(seg, list):
        return _check_polygons(seg, height, width, where)
    if isinstance(seg, dict):
        return _check_rle(seg, height, width, where)
    raise DatasetError(
        f"{where}: segmentation must be a list of polygons or an RLE object, got "
        f"{type(seg).__name__}"
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_polygons(rings: list, height: int, width: int, where: str) -> Checked:
    kept, degenerate = [], 0
    for k, ring in enumerate(rings):
        at = f"{where}: polygon {k}"
        if not isinstance(ring, list) or not all(_is_number(v) for v in ring):
            raise DatasetError(f"{at} must be a list of numbers [x1, y1, x2, y2, ...]")
        if len(ring) % 2:
            raise DatasetError(f"{at} has {len(ring)} coordinates, an odd number (x, y pairs)")
        if not all(math.isfinite(v) for v in ring):
            raise DatasetError(f"{at} has a coordinate that is not a finite number")
        xs, ys = ring[0::2], ring[1::2]
        if xs and not _near(xs, width) or ys and not _near(ys, height):
            raise DatasetError(
                f"{at} has a point far outside the {width}x{height} image "
                f"(x {min(xs):g}..{max(xs):g}, y {min(ys):g}..{max(ys):g})"
            )
        if len(ring) < 6:  # fewer than 3 points: no area (COCO has a few; detectron2 drops them)
            degenerate += 1
            continue
        kept.append([float(v) for v in ring])
    return Checked("polygon", tuple(kept), degenerate)


def _near(values: list, size: int) -> bool:
    return min(values) >= -POLYGON_MARGIN * size and max(values) <= (1 + POLYGON_MARGIN) * size


def _check_rle(rle: dict, height: int, width: int, where: str) -> Checked:
    size, counts = rle.get("size"), rle.get("counts")
    if size != [height, width]:
        raise DatasetError(
            f"{where}: RLE size {size!r} is not the image's [height, width] [{height}, {width}]"
        )
    if isinstance(counts, list):
        if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
            raise DatasetError(f"{where}: RLE counts must be non-negative integers")
        runs = counts
    elif isinstance(counts, str):
        runs = compressed_counts(counts)
        if runs is None:
            raise DatasetError(f"{where}: RLE counts string is malformed (not COCO's encoding)")
        if (runs < 0).any():
            raise DatasetError(f"{where}: RLE counts string decodes to a negative run")
    else:
        raise DatasetError(f"{where}: RLE counts must be a list of integers or a string")
    total = int(np.sum(runs, dtype=np.int64)) if len(runs) else 0
    if total != height * width:
        raise DatasetError(
            f"{where}: RLE runs cover {total} pixels, the {width}x{height} image has "
            f"{height * width}"
        )
    if isinstance(counts, list):
        return Checked("rle", {"size": [height, width], "counts": list(counts)})
    return Checked("rle", {"size": [height, width], "counts": counts.encode("ascii")})


def compressed_counts(text: str) -> np.ndarray | None:
    """The runs of COCO's compressed RLE string, or None if it is not one.

    Each run is a group of characters (ASCII 48 + a 6-bit value): 5 payload bits each, low bits
    first, bit 0x20 set on all but the group's last character, bit 0x10 of the last one the sign.
    From the third run on, a value is stored as the difference to the run two places before.
    """
    if not text.isascii():
        return None
    raw = np.frombuffer(text.encode("ascii"), np.uint8).astype(np.int64) - 48
    if not len(raw):
        return np.zeros(0, np.int64)
    if raw.min() < 0 or raw.max() > 63 or raw[-1] & 0x20:
        return None
    ends = (raw & 0x20) == 0
    starts = np.flatnonzero(np.concatenate([[True], ends[:-1]]))
    group = np.cumsum(np.concatenate([[0], ends[:-1]]))
    position = np.arange(len(raw)) - starts[group]
    if position.max() >= _MAX_CHARS_PER_RUN:
        return None
    values = np.add.reduceat((raw & 0x1F) << (5 * position), starts)
    last = np.flatnonzero(ends)
    negative = (raw[last] & 0x10) != 0
    values = values - negative * (np.int64(1) << (5 * (position[last] + 1)))
    runs = values.copy()
    runs[1::2] = np.cumsum(values[1::2])
    runs[2::2] = np.cumsum(values[2::2])
    return runs


def decode(checked: Checked, height: int, width: int) -> list[dict]:
    """pycocotools RLEs of a checked segmentation (none for a polygon with no rings left)."""
    from pycocotools import mask as coco_mask

    if checked.kind == "polygon":
        # One ring at a time: given rings of 4 numbers, frPyObjects would read boxes.
        return [coco_mask.frPyObjects([ring], height, width)[0] for ring in checked.data]
    if isinstance(checked.data["counts"], list):
        return [coco_mask.frPyObjects(checked.data, height, width)]
    return [dict(checked.data)]


@dataclass(frozen=True)
class CocoMask:
    """The union of one image's regions of one label (an `ObjectMask`), decoded on demand."""

    label: int
    name: str
    height: int
    width: int
    parts: tuple[Checked, ...]
    annotation_ids: tuple[tuple[str, int], ...]  # (annotation file, id) of each part

    def pixels(self) -> np.ndarray:
        from pycocotools import mask as coco_mask

        rles = [rle for part in self.parts for rle in decode(part, self.height, self.width)]
        if not rles:
            return np.zeros((self.height, self.width), bool)
        return coco_mask.decode(coco_mask.merge(rles, intersect=False)).astype(bool)

    def params(self) -> dict[str, Any]:
        return {"annotations": [list(a) for a in self.annotation_ids]}
