"""MetaShift Cats vs. Dogs as DISC prepares it (`MetaDatasetCatDog`), the setup DBB follows.

Layout, as DISC's `MetaDatasetCatDog` reads it (its download unpacks to
`data/metashifts/MetaDatasetCatDog`)::

    <root>/train/cat/cat(sofa)/*   <root>/train/cat/cat(bed)/*
    <root>/train/dog/dog(bench)/*  <root>/train/dog/dog(bike)/*
    <root>/test/cat/cat(shelf)/*   <root>/test/dog/dog(shelf)/*

Only these six folders are read, as DISC does; other context folders in the download are
ignored. `y` is 0 cat / 1 dog (DISC's order); `a` is the context: sofa, bed, bench, bike, shelf.
Splits follow DISC: the train folders are the train split; of the test folders' images, 15% go
to val and 85% to test, chosen by scikit-learn's `train_test_split(..., test_size=0.85,
random_state=0)` over the image indices. DISC lists files in the file system's order, which
differs between machines; here they are sorted, so the val / test sizes match DISC's exactly but
the assignment of individual images may not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from debias_core.data.base import DatasetError, SampleRecord

FOLDER = "MetaDatasetCatDog"
CLASS_NAMES = ["cat", "dog"]
CONTEXTS = ["sofa", "bed", "bench", "bike", "shelf"]
GROUPS = {
    "train": {"cat": ("sofa", "bed"), "dog": ("bench", "bike")},
    "test": {"cat": ("shelf",), "dog": ("shelf",)},
}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
TEST_SIZE = 0.85  # DISC's train_test_split(test_size=0.85): the other 15% become val


def find_disc_base(root: Path) -> Path | None:
    """The DISC folder: `root` itself, `root/MetaDatasetCatDog` or `root/metashifts/...`."""
    for base in (root, root / FOLDER, root / "metashifts" / FOLDER):
        if (base / "train" / "cat" / "cat(sofa)").is_dir():
            return base
    return None


def disc_files(base: Path) -> list[tuple[str, str, int, int]]:
    """(path relative to base, folder split, y, a) for DISC's six group folders, sorted."""
    found = []
    for folder_split, classes in GROUPS.items():
        for animal, contexts in classes.items():
            for context in contexts:
                folder = base / folder_split / animal / f"{animal}({context})"
                if not folder.is_dir():
                    raise DatasetError(
                        f"{str(folder)!r} is missing: DISC's MetaShift layout has "
                        "train/cat/cat(sofa), cat(bed), train/dog/dog(bench), dog(bike), "
                        "test/cat/cat(shelf) and test/dog/dog(shelf)"
                    )
                y, a = CLASS_NAMES.index(animal), CONTEXTS.index(context)
                for path in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
                    if path.suffix.lower() not in IMAGE_SUFFIXES:
                        raise DatasetError(f"{str(path)!r}: not a .jpg/.jpeg/.png image")
                    found.append((path.relative_to(base).as_posix(), folder_split, y, a))
    return found


def disc_splits(folder_splits: list[str]) -> list[str]:
    """train folders -> train; test folders -> 15% val / 85% test, with DISC's random state."""
    from sklearn.model_selection import train_test_split

    test_rows = [i for i, s in enumerate(folder_splits) if s == "test"]
    splits = ["train" if s == "train" else "test" for s in folder_splits]
    if len(test_rows) >= 2:
        val_idx, _ = train_test_split(
            np.arange(len(test_rows)), test_size=TEST_SIZE, random_state=0
        )
        for k in val_idx:
            splits[test_rows[k]] = "val"
    return splits


def disc_records(base: Path, split: str, resolve, images) -> list[SampleRecord]:
    """Records of the DISC layout; `split` is 'disc' (DISC's rule) or 'folders'."""
    found = disc_files(base)
    folder_splits = [s for _, s, _, _ in found]
    splits = disc_splits(folder_splits) if split == "disc" else folder_splits
    records = []
    for (rel, folder_split, y, a), s in zip(found, splits, strict=True):
        where = str(base / rel)
        path = resolve(base, rel, where)
        images.add(path, where)
        meta = {"filename": rel, "folder_split": folder_split, "layout": "disc"}
        records.append(SampleRecord(path, y, a, s, meta))
    return records
