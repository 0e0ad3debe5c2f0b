"""MetaShift Cats vs. Dogs, in the layouts of SubpopBench and of DISC.

Three inputs are recognised (`layout="auto"` picks the one found under `--root`):

- SubpopBench's folders (below), split at random or by folder;
- SubpopBench's `metadata_metashift.csv` (`split="auto"` uses it when it is in `--root`): its
  `filename` column holds absolute paths, accepted when they lie under `--root`, and its
  `split` column (0/1/2) is SubpopBench's own assignment, reproduced exactly;
- DISC's `MetaDatasetCatDog` (sofa / bed / bench / bike / shelf contexts): see metashift_disc.py.

SubpopBench folder layout
Layout (the "unmixed" export of MetaShift's `subpopulation_shift_cat_dog_indoor_outdoor.py`,
which SubpopBench downloads as `MetaShift-Cat-Dog-indoor-outdoor`)::

    <root>/                      the folder itself, or a folder that holds it
      train/cat/cat(indoor)/*.jpg
      train/dog/dog(outdoor)/*.jpg
      test/cat/cat(outdoor)/*.jpg
      test/dog/dog(indoor)/*.jpg

`y` is 0 dog / 1 cat and `a` is 0 outdoor / 1 indoor, the codes SubpopBench uses. The folder
split holds only the majority groups in train and only the minority groups in test, so without
the CSV (`split="auto"` means "random" then, as SubpopBench does) all images are pooled and
re-split at random: `test_fraction` 0.25, `val_fraction` 0.1, `seed` 42, over the sorted paths
(the same on every machine, though not SubpopBench's exact assignment; its CSV gives that).
`split="folders"` keeps the folder names as splits. Top-level files such as
`imageID_to_group.pkl` are ignored (never unpickled); MetaShift's "mixed" export is made of
symlinks out of the folder and is refused.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from debias_core.data import metashift_disc as disc
from debias_core.data.base import DATASETS, DatasetError, DatasetImport, SampleRecord
from debias_core.data.metadata_csv import read_table
from debias_core.data.validate import (
    MAX_PIXELS,
    ImageChecks,
    check_root,
    normalize_split,
    resolve_inside,
)

FOLDER = "MetaShift-Cat-Dog-indoor-outdoor"
METADATA_CSV = "metadata_metashift.csv"  # what SubpopBench's download script writes
LAYOUTS = ("auto", "subpopbench", "disc")
SPLITS = ("auto", "random", "folders", "metadata", "disc")
CLASS_NAMES = ["dog", "cat"]
ATTR_NAMES = ["outdoor", "indoor"]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
_GROUP = re.compile(r"(cat|dog)\((indoor|outdoor)\)")


def _children(folder: Path) -> list[Path]:
    """Sorted entries of a folder, without hidden ones (.DS_Store and friends)."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _group_images(base: Path) -> list[tuple[str, str, int, int]]:
    """(relative path, folder split, y, a) for every image, in sorted path order."""
    found = []
    for split_dir in [p for p in _children(base) if p.is_dir()]:
        folder_split = normalize_split(split_dir.name, f"folder {str(split_dir)!r}")
        for class_dir in _children(split_dir):
            if class_dir.name not in CLASS_NAMES or not class_dir.is_dir():
                raise DatasetError(f"{str(class_dir)!r}: expected only folders 'cat' and 'dog'")
            for group_dir in _children(class_dir):
                match = _GROUP.fullmatch(group_dir.name)
                if not group_dir.is_dir() or not match or match[1] != class_dir.name:
                    raise DatasetError(
                        f"{str(group_dir)!r}: expected folders "
                        f"'{class_dir.name}(indoor)' / '{class_dir.name}(outdoor)'"
                    )
                y, a = CLASS_NAMES.index(match[1]), ATTR_NAMES.index(match[2])
                for path in _children(group_dir):
                    if path.suffix.lower() not in IMAGE_SUFFIXES:
                        raise DatasetError(f"{str(path)!r}: not a .jpg/.jpeg/.png image")
                    found.append((path.relative_to(base).as_posix(), folder_split, y, a))
    if not found:
        raise DatasetError(f"{str(base)!r}: no images; expected train/cat/cat(indoor)/*.jpg etc.")
    return found


def _random_splits(n: int, val_fraction: float, test_fraction: float, seed: int) -> list[str]:
    if min(val_fraction, test_fraction) < 0 or val_fraction + test_fraction >= 1:
        raise DatasetError("val_fraction and test_fraction must be >= 0 and sum to less than 1")
    order = np.random.default_rng(seed).permutation(n)
    n_test, n_val = int(n * test_fraction), int(n * val_fraction)
    splits = ["train"] * n
    for rank, i in enumerate(order[: n_test + n_val]):
        splits[i] = "test" if rank < n_test else "val"
    return splits


@DATASETS.register("metashift")
def metashift(
    root: Path,
    *,
    layout: str = "auto",
    split: str = "auto",
    csv: str = METADATA_CSV,
    val_fraction: float = 0.1,
    test_fraction: float = 0.25,
    seed: int = 42,
    max_pixels: int = MAX_PIXELS,
) -> DatasetImport:
    """Read MetaShift cats vs. dogs; see the module docstring for the layouts and splits."""
    root = check_root(root)
    if layout not in LAYOUTS or split not in SPLITS:
        raise DatasetError(
            f"layout must be one of {list(LAYOUTS)} and split one of {list(SPLITS)}, got "
            f"layout={layout!r}, split={split!r}"
        )
    disc_base = disc.find_disc_base(root) if layout != "subpopbench" else None
    if layout == "disc" and disc_base is None:
        raise DatasetError(f"{str(root)!r}: no DISC layout (train/cat/cat(sofa)/...) found")
    images = ImageChecks(max_pixels)
    if disc_base is not None:
        return _disc_import(disc_base, split, images)
    if split == "metadata" or (split == "auto" and (root / csv).is_file()):
        return _metadata_import(root, csv, max_pixels)
    split = "random" if split == "auto" else split
    if split not in ("random", "folders"):
        raise DatasetError(f"split {split!r} is not for SubpopBench's folders; use random")
    base = root / FOLDER if (root / FOLDER).is_dir() else root
    found = _group_images(base)
    if split == "random":
        splits = _random_splits(len(found), val_fraction, test_fraction, seed)
    else:
        splits = [folder_split for _, folder_split, _, _ in found]
    records = []
    for (rel, folder_split, y, a), s in zip(found, splits, strict=True):
        where = str(base / rel)
        path = resolve_inside(base, rel, where)
        images.add(path, where)
        meta = {"filename": rel, "folder_split": folder_split}
        records.append(SampleRecord(path, y, a, s, meta))
    images.run()
    params = {"split": split, "val_fraction": val_fraction, "test_fraction": test_fraction}
    return DatasetImport(
        name="metashift",
        records=records,
        class_names=list(CLASS_NAMES),
        attr_names=list(ATTR_NAMES),
        root=base,
        params={**params, "layout": "subpopbench", "seed": seed, "max_pixels": max_pixels},
    )


def _metadata_import(root: Path, csv: str, max_pixels: int) -> DatasetImport:
    """SubpopBench's own table: y 1 cat / 0 dog, a 1 indoor / 0 outdoor, split 0/1/2."""
    columns = {"filename": "filename", "y": "y", "a": "a", "split": "split"}
    records = read_table(root, csv, columns, n_classes=2, n_attrs=2, max_pixels=max_pixels)
    return DatasetImport(
        name="metashift",
        records=records,
        class_names=list(CLASS_NAMES),
        attr_names=list(ATTR_NAMES),
        root=root,
        params={"layout": "subpopbench", "split": "metadata", "csv": csv, "max_pixels": max_pixels},
    )


def _disc_import(base: Path, split: str, images: ImageChecks) -> DatasetImport:
    if split not in ("auto", "disc", "folders"):
        raise DatasetError(f"split {split!r} is not for DISC's layout; use disc or folders")
    split = "disc" if split == "auto" else split
    records = disc.disc_records(base, split, resolve_inside, images)
    images.run()
    return DatasetImport(
        name="metashift",
        records=records,
        class_names=list(disc.CLASS_NAMES),
        attr_names=list(disc.CONTEXTS),
        root=base,
        params={"layout": "disc", "split": split, "max_pixels": images.max_pixels},
    )


metashift.spurious_site = lambda params: "background"  # the scene around the cat / dog
