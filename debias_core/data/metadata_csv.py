"""SubpopBench-style metadata table: one CSV with columns `filename, y, a, split`.

`filename` is relative to the dataset root (or to `image_dir` under it); `y` and `a` are
non-negative ints; `split` is train/val/test or 0/1/2. Other columns (e.g. `id`) go to `meta`.
"""

from __future__ import annotations

from pathlib import Path

from debias_core.data.base import DATASETS, DatasetImport, SampleRecord
from debias_core.data.validate import (
    MAX_PIXELS,
    ImageChecks,
    check_root,
    normalize_split,
    parse_label,
    read_csv_rows,
    resolve_dir,
    resolve_inside,
)


def read_table(
    root: Path,
    csv: str,
    columns: dict[str, str],
    *,
    image_dir: str = "",
    n_classes: int | None = None,
    n_attrs: int | None = None,
    max_pixels: int = MAX_PIXELS,
) -> list[SampleRecord]:
    """Records from an integer-labelled CSV; `columns` maps filename/y/a/split to column names.

    Every row and then every image is checked; the first problem raises `DatasetError`.
    """
    where_root = f"dataset {str(root)!r}"
    csv_path = resolve_inside(root, csv, f"{where_root} option csv", what="CSV file")
    image_root = resolve_dir(root, image_dir, f"{where_root} option image_dir")
    used = set(columns.values())
    images = ImageChecks(max_pixels)
    records = []
    for n, row in enumerate(read_csv_rows(csv_path, list(columns.values())), start=1):
        where = f"{csv_path} row {n}"
        y = parse_label(row[columns["y"]], where, columns["y"], n_classes)
        a = parse_label(row[columns["a"]], where, columns["a"], n_attrs)
        split = normalize_split(row[columns["split"]], where)
        filename = row[columns["filename"]]
        path = resolve_inside(image_root, filename, where)
        images.add(path, where)
        meta = {"filename": filename, **{k: v for k, v in row.items() if k not in used}}
        records.append(SampleRecord(path, y, a, split, meta))
    images.run()  # last, and in one pass: the slow part on big datasets
    return records


@DATASETS.register("metadata-csv")
def metadata_csv(
    root: Path,
    *,
    csv: str = "metadata.csv",
    image_dir: str = "",
    max_pixels: int = MAX_PIXELS,
) -> DatasetImport:
    """Read `root/csv` (columns filename, y, a, split); class/attr names are "class i"/"attr i"."""
    root = check_root(root)
    columns = {"filename": "filename", "y": "y", "a": "a", "split": "split"}
    records = read_table(root, csv, columns, image_dir=image_dir, max_pixels=max_pixels)
    return DatasetImport(
        name="metadata-csv",
        records=records,
        class_names=[f"class {i}" for i in range(max(r.y for r in records) + 1)],
        attr_names=[f"attr {i}" for i in range(max(r.a for r in records) + 1)],
        root=root,
        params={"csv": csv, "image_dir": image_dir, "max_pixels": max_pixels},
    )
