"""COCO-Stuff (Caesar et al.): COCO 2017 images with thing and stuff labels as one label space.

Layout, as COCO and COCO-Stuff ship it (`annotations_trainval2017.zip` for the instances,
`stuff_annotations_trainval2017.zip` for the stuff)::

    <root>/annotations/instances_train2017.json   things: polygons, RLE for crowds
    <root>/annotations/instances_val2017.json
    <root>/annotations/stuff_train2017.json       stuff: compressed RLE
    <root>/annotations/stuff_val2017.json
    <root>/train2017/*.jpg  and  <root>/val2017/*.jpg   (or <root>/images/train2017, ...)

COCO's val2017 is the test split; `val_fraction` of train2017 (a permutation of the sorted image
ids drawn with `seed`, round(n * val_fraction) images) is the val split.

Labels: the thing categories (by COCO id) then the stuff ones, numbered 0..N-1; COCO-Stuff's
stuff class 'other' (id 183: every thing pixel, as stuff) is left out unless `include_other`.
Each label keeps its COCO supercategory: a context's semantic siblings (`semantic_siblings`) are
the other labels of its supercategory. Each image gets its label set (`sample_labels`) and one
mask per label, the union of that label's regions (masks table: kind 'object', segmenter
'dataset', label = the category name, params = the annotation ids).

The single-label fields every sample has: `y` is the thing label covering the largest annotated
area (COCO's `area` field), or the largest stuff label in an image without things; `a` is the
largest stuff label, or `y` in an image without stuff; class and context names are both the
label names. Images without any label are skipped (counted in the params as
`skipped_unlabelled`); polygon rings of fewer than three points have no area and are skipped
(`degenerate_polygons`), as detectron2 does; anything else malformed is refused.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from debias_core.data.base import DATASETS, DatasetError, DatasetImport, SampleRecord
from debias_core.data.coco_masks import Checked, CocoMask, check_segmentation
from debias_core.data.validate import (
    MAX_PIXELS,
    ImageChecks,
    check_image,
    check_root,
    resolve_dir,
    resolve_inside,
)
from debias_core.store.labels import LabelName

COCO_SPLITS = {"train": "train2017", "val": "val2017"}  # COCO split -> its name in the files
OTHER_STUFF = "other"  # COCO-Stuff's stuff class for all thing pixels


@dataclass
class _Region:
    """What one image holds of one label, gathered over its annotations."""

    parts: list[Checked] = field(default_factory=list)
    ids: list[tuple[str, int]] = field(default_factory=list)
    area: float = 0.0


@dataclass
class _Tally:
    degenerate: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class _Space:
    """The train files' categories (the val files must list the same) and the label space."""

    thing_file: Path
    things: dict[int, dict]
    stuff_file: Path
    stuff: dict[int, dict]
    labels: list[LabelName]
    to_label: dict[int, int]  # COCO category id -> label ('other' has none)


# ---------------------------------------------------------------- files and categories


def _read_json(path: Path) -> dict:
    try:
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{str(path)!r}: not valid JSON ({exc})") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{str(path)!r}: not a UTF-8 text file ({exc})") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{str(path)!r}: expected a JSON object with images, annotations, ...")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DatasetError(f"{str(path)!r}: no list {key!r} (not a COCO annotation file)")
    return data


def _annotation_file(root: Path, name: str) -> Path:
    if not (root / "annotations" / name).is_file():
        raise DatasetError(
            f"dataset {str(root)!r}: missing annotations/{name} (COCO ships instances_*.json in "
            "annotations_trainval2017.zip, COCO-Stuff stuff_*.json in "
            "stuff_annotations_trainval2017.zip)"
        )
    return resolve_inside(root, f"annotations/{name}", f"dataset {str(root)!r}", "file")


def _entry(item: Any, where: str, fields: dict[str, type]) -> dict:
    """A JSON object with the given fields of the given types (an int is never a bool)."""
    if not isinstance(item, dict):
        raise DatasetError(f"{where}: expected a JSON object, got {type(item).__name__}")
    for name, kind in fields.items():
        value = item.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            what = {int: "an integer", str: "a string"}.get(kind, kind.__name__)
            raise DatasetError(f"{where}: field {name!r} must be {what}, got {value!r}")
    return item


def _categories(path: Path, data: dict) -> dict[int, dict]:
    """COCO category id -> {name, supercategory}; a repeated id is refused."""
    out: dict[int, dict] = {}
    for i, item in enumerate(data["categories"]):
        where = f"{path} categories[{i}]"
        cat = _entry(item, where, {"id": int, "name": str, "supercategory": str})
        if cat["id"] in out:
            raise DatasetError(f"{where}: category id {cat['id']} is listed twice")
        out[cat["id"]] = {"name": cat["name"], "supercategory": cat["supercategory"]}
    if not out:
        raise DatasetError(f"{str(path)!r}: the category list is empty")
    return out


def _same_categories(first: Path, a: dict, second: Path, b: dict) -> None:
    if a != b:
        differ = sorted(set(a) ^ set(b)) or sorted(k for k in a if a[k] != b[k])
        raise DatasetError(
            f"{str(second)!r}: its categories differ from those of {str(first)!r} "
            f"(category id {differ[0]})"
        )


class _Files:
    """The annotation files, each parsed once: the train files are read for their categories
    first, then for their annotations (COCO's train instances alone are 450 MB of JSON)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._kept: dict[str, dict] = {}

    def path(self, name: str) -> Path:
        return _annotation_file(self.root, name)

    def read(self, name: str, keep: bool = False) -> dict:
        data = self._kept.pop(name, None) or _read_json(self.path(name))
        if keep:
            self._kept[name] = data
        return data


def _read_space(files: _Files, include_other: bool) -> _Space:
    """The label list (things then stuff, each by COCO id) from the train files."""
    thing_file, stuff_file = (
        files.path("instances_train2017.json"),
        files.path("stuff_train2017.json"),
    )
    things = _categories(thing_file, files.read(thing_file.name, keep=True))
    stuff = _categories(stuff_file, files.read(stuff_file.name, keep=True))
    both = sorted(set(things) & set(stuff))
    if both:
        raise DatasetError(f"{str(stuff_file)!r}: category id {both[0]} is a thing category too")
    labels: list[LabelName] = []
    for kind, cats in (("thing", things), ("stuff", stuff)):
        for coco_id in sorted(cats):
            name, group = cats[coco_id]["name"], cats[coco_id]["supercategory"]
            if kind == "stuff" and name == OTHER_STUFF and not include_other:
                continue
            labels.append(LabelName(len(labels), name, group, kind, coco_id))
    names = [x.name for x in labels]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DatasetError(f"{str(stuff_file)!r}: category name(s) {repeated} used twice")
    to_label = {x.source_id: x.label for x in labels}
    return _Space(thing_file, things, stuff_file, stuff, labels, to_label)


# ---------------------------------------------------------------- images and annotations


def _images(path: Path, data: dict) -> dict[int, dict]:
    """Image id -> its entry (file_name, width, height, where); repeats and bad sizes refused."""
    out: dict[int, dict] = {}
    for i, item in enumerate(data["images"]):
        where = f"{path} images[{i}]"
        image = _entry(item, where, {"id": int, "file_name": str, "width": int, "height": int})
        where += f" (id {image['id']})"
        if image["id"] in out:
            raise DatasetError(f"{where}: image id {image['id']} is listed twice")
        if image["width"] < 1 or image["height"] < 1:
            raise DatasetError(f"{where}: width and height must be >= 1")
        out[image["id"]] = {k: image[k] for k in ("file_name", "width", "height")} | {"at": where}
    return out


def _check_listed_images(path: Path, data: dict, images: dict[int, dict], instances: Path) -> None:
    """A stuff file lists the instances file's images: none unknown, none of another size."""
    for image_id, entry in _images(path, data).items():
        known = images.get(image_id)
        if known is None:
            raise DatasetError(f"{entry['at']}: image id {image_id} is not in {str(instances)!r}")
        if any(known[k] != entry[k] for k in ("file_name", "width", "height")):
            raise DatasetError(
                f"{entry['at']}: file_name / size differ from image id {image_id} in "
                f"{str(instances)!r}"
            )


def _check_numbers(ann: dict, where: str) -> float:
    """The annotation's area (0 when absent); a bad area or iscrowd is refused."""
    area = ann.get("area", 0.0)
    if not isinstance(area, int | float) or isinstance(area, bool) or not math.isfinite(area):
        raise DatasetError(f"{where}: area must be a finite number, got {area!r}")
    if area < 0:
        raise DatasetError(f"{where}: area must be >= 0, got {area!r}")
    if ann.get("iscrowd", 0) not in (0, 1) or isinstance(ann.get("iscrowd"), bool):
        raise DatasetError(f"{where}: iscrowd must be 0 or 1, got {ann['iscrowd']!r}")
    if "segmentation" not in ann:
        raise DatasetError(f"{where}: no segmentation")
    return float(area)


def _gather(
    path: Path,
    data: dict,
    images: dict[int, dict],
    categories: dict[int, dict],
    space: _Space,
    regions: dict[int, dict[int, _Region]],
    tally: _Tally,
) -> None:
    """Check every annotation of one file and add it to its image's region of its label."""
    seen: dict[int, int] = {}
    for i, item in enumerate(data["annotations"]):
        where = f"{path} annotations[{i}]"
        ann = _entry(item, where, {"id": int, "image_id": int, "category_id": int})
        where += f" (id {ann['id']})"
        if ann["id"] in seen:
            first = seen[ann["id"]]
            raise DatasetError(f"{where}: annotation id {ann['id']} is also annotations[{first}]")
        seen[ann["id"]] = i
        image = images.get(ann["image_id"])
        if image is None:
            raise DatasetError(f"{where}: image_id {ann['image_id']} is not in the file's images")
        if ann["category_id"] not in categories:
            raise DatasetError(
                f"{where}: category_id {ann['category_id']} is not in the file's categories"
            )
        area = _check_numbers(ann, where)
        checked = check_segmentation(ann["segmentation"], image["height"], image["width"], where)
        tally.degenerate += checked.degenerate_rings
        label = space.to_label.get(ann["category_id"])
        if label is None:  # COCO-Stuff's 'other', left out
            continue
        region = regions[ann["image_id"]].setdefault(label, _Region())
        region.parts.append(checked)
        region.ids.append((path.name, ann["id"]))
        region.area += area


# ---------------------------------------------------------------- records


def _main_labels(regions: dict[int, _Region], labels: list[LabelName]) -> tuple[int, int]:
    """(y, a): the largest thing (else stuff) label, the largest stuff label (else y)."""

    def largest(kind: str) -> int | None:
        found = [(-r.area, label) for label, r in regions.items() if labels[label].kind == kind]
        return min(found)[1] if found else None

    thing, stuff = largest("thing"), largest("stuff")
    y = thing if thing is not None else stuff
    return y, (stuff if stuff is not None else y)


def _record(path: Path, split: str, image_id: int, image: dict, found: dict, space: _Space):
    y, a = _main_labels(found, space.labels)
    h, w = image["height"], image["width"]
    masks = tuple(
        CocoMask(label, space.labels[label].name, h, w, tuple(r.parts), tuple(r.ids))
        for label, r in sorted(found.items())
    )
    meta = {"coco_id": image_id, "filename": f"{COCO_SPLITS[split]}/{image['file_name']}"}
    return SampleRecord(path, y, a, split, meta, tuple(sorted(found)), object_masks=masks)


def _image_folder(root: Path, image_root: str, folder: str) -> Path:
    where = f"dataset {str(root)!r} option image_root"
    if image_root:
        return resolve_dir(resolve_dir(root, image_root, where), folder, where)
    for base in (root, root / "images"):
        if (base / folder).is_dir():
            return resolve_dir(root, (base / folder).relative_to(root).as_posix(), where)
    raise DatasetError(
        f"dataset {str(root)!r}: no image folder {folder}/ (looked in the root and in images/)"
    )


def _split_records(
    files: _Files, split: str, space: _Space, image_root: str, tally: _Tally
) -> list[tuple[SampleRecord, str, dict]]:
    """(record, where, image entry) for the images of one COCO split that have a label."""
    instances_path = files.path(f"instances_{COCO_SPLITS[split]}.json")
    stuff_path = files.path(f"stuff_{COCO_SPLITS[split]}.json")
    instances, stuff = files.read(instances_path.name), files.read(stuff_path.name)
    things = _categories(instances_path, instances)
    _same_categories(space.thing_file, space.things, instances_path, things)
    _same_categories(space.stuff_file, space.stuff, stuff_path, _categories(stuff_path, stuff))
    images = _images(instances_path, instances)
    _check_listed_images(stuff_path, stuff, images, instances_path)
    regions: dict[int, dict[int, _Region]] = defaultdict(dict)
    _gather(instances_path, instances, images, space.things, space, regions, tally)
    _gather(stuff_path, stuff, images, space.stuff, space, regions, tally)
    folder = _image_folder(files.root, image_root, COCO_SPLITS[split])
    out = []
    for image_id in sorted(images):
        image, found = images[image_id], regions.get(image_id, {})
        if not found:
            tally.skipped += 1
            continue
        path = resolve_inside(folder, image["file_name"], image["at"])
        out.append((_record(path, split, image_id, image, found, space), image["at"], image))
    return out


def _check_images(found: list, max_pixels: int) -> None:
    """Every image decodes, is listed once, and has the size its annotations were drawn for."""
    listed = ImageChecks(max_pixels)
    for record, where, _ in found:
        listed.add(record.path, where)
    for record, where, image in found:
        size = check_image(record.path, where, max_pixels)
        if size != (image["width"], image["height"]):
            raise DatasetError(
                f"{where}: image {str(record.path)!r} is {size[0]}x{size[1]}, the annotation "
                f"file says {image['width']}x{image['height']}"
            )


def _final_splits(records: list[SampleRecord], val_fraction: float, seed: int):
    """COCO val -> test; COCO train -> train, or val for the seeded draw."""
    train_ids = sorted(r.meta["coco_id"] for r in records if r.split == "train")
    order = np.random.default_rng(seed).permutation(len(train_ids))
    chosen = {train_ids[i] for i in order[: round(len(train_ids) * val_fraction)]}
    return [
        replace(r, split="test" if r.split == "val" else "val")
        if r.split == "val" or r.meta["coco_id"] in chosen
        else r
        for r in records
    ]


@DATASETS.register("coco-stuff")
def coco_stuff(
    root: Path,
    *,
    image_root: str = "",
    val_fraction: float = 0.1,
    seed: int = 0,
    include_other: bool = False,
    max_pixels: int = MAX_PIXELS,
) -> DatasetImport:
    """Read COCO-Stuff 2017; see the module docstring for the layout, labels and splits."""
    if not 0 <= val_fraction < 1:
        raise DatasetError(f"val_fraction must be in [0, 1), got {val_fraction}")
    root = check_root(root)
    files = _Files(root)
    for name in ("instances_train2017", "stuff_train2017", "instances_val2017", "stuff_val2017"):
        files.path(f"{name}.json")  # a missing file is named before any is parsed
    space = _read_space(files, include_other)
    tally = _Tally()
    found = []
    for split in COCO_SPLITS:
        found += _split_records(files, split, space, image_root, tally)
    _check_images(found, max_pixels)
    names = [x.name for x in space.labels]
    return DatasetImport(
        name="coco-stuff",
        records=_final_splits([r for r, _, _ in found], val_fraction, seed),
        class_names=names,
        attr_names=list(names),
        root=root,
        params={
            "image_root": image_root,
            "val_fraction": val_fraction,
            "seed": seed,
            "include_other": include_other,
            "max_pixels": max_pixels,
            "skipped_unlabelled": tally.skipped,
            "degenerate_polygons": tally.degenerate,
        },
        labels=tuple(space.labels),
    )


coco_stuff.spurious_site = lambda params: "background"  # the contexts are the scene's stuff
