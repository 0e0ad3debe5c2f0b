"""A generic image folder plus a CSV whose column names the user chooses.

Labels and attributes may be any strings ("cat", "indoor", "3"); each is mapped to an int by
its rank among the sorted unique values (numeric order when every value is an integer), and the
values become `class_names` / `attr_names`. Without an attribute column every sample gets
`a = 0` (attr name "all"): the bias stage can discover groups later.
"""

from __future__ import annotations

import re
from pathlib import Path

from debias_core.data.base import DATASETS, DatasetError, DatasetImport, SampleRecord
from debias_core.data.validate import (
    MAX_LABELS,
    MAX_PIXELS,
    ImageChecks,
    check_root,
    normalize_split,
    read_csv_rows,
    resolve_dir,
    resolve_inside,
)

_INTEGER = re.compile(r"-?[0-9]+")


def encode_labels(values: list[str], where: str) -> tuple[list[int], list[str]]:
    """(int code per value, sorted unique names); numeric order if all values are integers.

    "Integer" means ASCII digits: '²' or '٣' are names like any other, never numbers.
    """
    unique = set(values)
    if len(unique) > MAX_LABELS:
        raise DatasetError(
            f"{where} has {len(unique):,} distinct values, over the {MAX_LABELS:,} a project can "
            "hold"
        )
    numeric = all(_INTEGER.fullmatch(v) for v in unique)
    names = sorted(unique, key=int) if numeric else sorted(unique)
    code = {name: i for i, name in enumerate(names)}
    return [code[v] for v in values], names


def _meta(row: dict[str, str], path_column: str, used: list[str]) -> dict[str, str]:
    """The original path plus every column the adapter did not consume."""
    return {"filename": row[path_column], **{k: v for k, v in row.items() if k not in used}}


@DATASETS.register("folder-csv")
def folder_csv(
    root: Path,
    *,
    csv: str = "labels.csv",
    path_column: str = "path",
    label_column: str = "label",
    attr_column: str | None = "attr",
    split_column: str = "split",
    image_dir: str = "",
    max_pixels: int = MAX_PIXELS,
) -> DatasetImport:
    """Read `root/csv`; image paths in `path_column` are relative to `root/image_dir`."""
    root = check_root(root)
    where_root = f"dataset {str(root)!r}"
    csv_path = resolve_inside(root, csv, f"{where_root} option csv", what="CSV file")
    image_root = resolve_dir(root, image_dir, f"{where_root} option image_dir")
    columns = [path_column, label_column, split_column] + ([attr_column] if attr_column else [])
    rows = read_csv_rows(csv_path, columns)
    images = ImageChecks(max_pixels)
    paths, splits = [], []
    for n, row in enumerate(rows, start=1):
        where = f"{csv_path} row {n}"
        for column in columns:
            if not row[column]:
                raise DatasetError(f"{where}: column {column!r} is empty")
        splits.append(normalize_split(row[split_column], where))
        paths.append(resolve_inside(image_root, row[path_column], where))
        images.add(paths[-1], where)
    ys, class_names = encode_labels(
        [row[label_column] for row in rows], f"{csv_path} column {label_column!r}"
    )
    if attr_column:
        attrs, attr_names = encode_labels(
            [row[attr_column] for row in rows], f"{csv_path} column {attr_column!r}"
        )
    else:
        attrs, attr_names = [0] * len(rows), ["all"]
    images.run()
    records = [
        SampleRecord(path, y, a, split, _meta(row, path_column, columns))
        for path, y, a, split, row in zip(paths, ys, attrs, splits, rows, strict=True)
    ]
    return DatasetImport(
        name="folder-csv",
        records=records,
        class_names=class_names,
        attr_names=attr_names,
        root=root,
        params={
            "csv": csv,
            "path_column": path_column,
            "label_column": label_column,
            "attr_column": attr_column,
            "split_column": split_column,
            "image_dir": image_dir,
            "max_pixels": max_pixels,
        },
    )
