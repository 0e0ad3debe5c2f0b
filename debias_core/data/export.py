"""Export a project (optionally with its curated generated samples) as a SubpopBench folder.

SubpopBench reads `metadata.csv` with pandas and keeps the rows whose `split` equals 0, 1 or 2
(train, val, test), so the split is written as those integers; `filename` is relative to the
folder, which is the `root` SubpopBench joins it to.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from debias_core.store import SampleFilter, Store

COLUMNS = ["filename", "y", "a", "split", "source", "sample_id", "parent_id"]
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}  # SubpopBench's SPLITS: tr 0, va 1, te 2


def export_project(
    store: Store, out: Path, generated: bool = False, status: str = "accepted"
) -> int:
    """Write images/ + metadata.csv to `out`; returns the number of rows written.

    Generated samples carry their target group as (y, a) and the split 'train'. `status` is
    'accepted' (curated only) or 'all'.
    """
    if status not in ("all", "accepted"):
        raise ValueError(f"status must be 'all' or 'accepted', got {status!r}")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; choose a new folder")
    samples = store.list_samples(SampleFilter(source="real"))
    if generated:
        chosen = None if status == "all" else "accepted"
        samples += store.list_samples(SampleFilter(source="generated", status=chosen))
    (out / "images").mkdir(parents=True, exist_ok=True)
    with (out / "metadata.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for s in samples:
            name = f"images/{s.source}_{s.id:06d}{Path(s.path).suffix}"
            shutil.copyfile(store.sample_path(s), out / name)
            split = SPLIT_CODES[s.split]
            writer.writerow([name, s.y, s.a, split, s.source, s.id, s.parent_id or ""])
    return len(samples)
