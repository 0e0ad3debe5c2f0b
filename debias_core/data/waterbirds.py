"""Waterbirds (Sagawa et al.): `metadata.csv` with `img_filename, y, place, split`.

The root is the `waterbird_complete95_forest2water2` folder, or the folder that holds it (as in
SubpopBench's `<data>/waterbirds/` or DISC's `data/cub/`): image paths such as
`001.Black_footed_Albatross/x.jpg` are relative to it. `y` is 0 landbird / 1 waterbird,
`place` 0 land / 1 water (the spurious background), `split` 0/1/2 = train/val/test.
"""

from __future__ import annotations

from pathlib import Path

from debias_core.data.base import DATASETS, DatasetImport
from debias_core.data.metadata_csv import read_table
from debias_core.data.validate import MAX_PIXELS, check_root

FOLDER = "waterbird_complete95_forest2water2"
CLASS_NAMES = ["landbird", "waterbird"]
ATTR_NAMES = ["land", "water"]


@DATASETS.register("waterbirds")
def waterbirds(
    root: Path, *, csv: str = "metadata.csv", max_pixels: int = MAX_PIXELS
) -> DatasetImport:
    """Read Waterbirds; extra columns (img_id, place_filename) are kept in `meta`."""
    root = check_root(root)
    if not (root / csv).is_file() and (root / FOLDER / csv).is_file():
        root = root / FOLDER
    columns = {"filename": "img_filename", "y": "y", "a": "place", "split": "split"}
    records = read_table(root, csv, columns, n_classes=2, n_attrs=2, max_pixels=max_pixels)
    return DatasetImport(
        name="waterbirds",
        records=records,
        class_names=list(CLASS_NAMES),
        attr_names=list(ATTR_NAMES),
        root=root,
        params={"csv": csv, "max_pixels": max_pixels},
    )


waterbirds.spurious_site = lambda params: "background"  # land / water (data/sites.py)
