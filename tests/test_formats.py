"""Formats the field's tools read and write, checked against their reading rules.

- `export` -> SubpopBench: `SubpopDataset.__init__` (YyzHarry/SubpopBench, subpopbench/dataset/
  datasets.py) reads metadata.csv with pandas, keeps rows whose `split` equals 0 / 1 / 2, joins
  `filename` to its root and counts groups as `num_attributes * y + a`; re-implemented below.
- MetaShift from SubpopBench's `metadata_metashift.csv` (absolute paths, its own splits) and from
  DISC's `MetaDatasetCatDog` (Wuyxin/DISC, dataset/meta_dataset_cat_dog.py: six context folders,
  15% of the test folders' images as val by `train_test_split(test_size=0.85, random_state=0)`).
- Waterbirds from the folder that holds `waterbird_complete95_forest2water2`.
- Colored Digits counts against LfF's `make_attr_labels` (alinlab/LfF, make_dataset.py).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dataset_files import make_csv_dataset, write_image

from debias_core.cli import main
from debias_core.data import DatasetError, load_dataset
from debias_core.data.colored_digits import ColoredDigitsConfig, render_dataset
from debias_core.store import GeneratedImage, Recipe, Store

SPLITS = {"tr": 0, "va": 1, "te": 2}  # SubpopBench's SubpopDataset.SPLITS


def subpopbench_read(root: Path, metadata: Path, split: str) -> dict:
    """What SubpopBench's SubpopDataset holds for one split: files, labels, group sizes."""
    df = pd.read_csv(metadata)
    df = df[df["split"] == SPLITS[split]]
    x = df["filename"].astype(str).map(lambda name: os.path.join(root, name)).tolist()
    y, a = df["y"].tolist(), df["a"].tolist()
    n_attrs, n_labels = len(set(a)), len(set(y))
    group_sizes = [0] * (n_attrs * n_labels)
    for yi, ai in zip(y, a, strict=True):
        group_sizes[n_attrs * yi + ai] += 1
    return {"x": x, "y": y, "a": a, "group_sizes": group_sizes}


# -- export -> SubpopBench ---------------------------------------------------------------------
def test_export_is_read_by_subpopbench_rules_and_reimports(tiny_project, tmp_path):
    store = tiny_project
    recipe = Recipe(method="txt2img", backbone_id="dummy", backbone_hash="0", seed=1)
    images = [GeneratedImage(np.full((8, 8, 3), k, np.uint8), 1, 0, recipe) for k in range(3)]
    ids = store.add_generated_unit(None, None, images)
    store.decide(ids[:2], "accept", "tester")
    out = tmp_path / "export"
    assert main(["export", str(store.root), "--out", str(out), "--generated"]) == 0

    counts = {s: Counter() for s in ("train", "val", "test")}
    for sample in store.list_samples():
        if sample.source == "real" or sample.id in ids[:2]:
            counts[sample.split][(sample.y, sample.a)] += 1
    for code, split in (("tr", "train"), ("va", "val"), ("te", "test")):
        data = subpopbench_read(out, out / "metadata.csv", code)
        assert len(data["x"]) == sum(counts[split].values()) > 0
        assert all(Path(path).is_file() for path in data["x"])
        expected = [counts[split][(y, a)] for y in range(2) for a in range(2)]
        assert data["group_sizes"] == expected

    again = tmp_path / "again"
    assert main(["init", str(again), "--dataset", "metadata-csv", "--root", str(out)]) == 0
    reread = Store.open(again)
    for split in ("train", "val", "test"):
        assert (
            Counter((s.y, s.a) for s in reread.list_samples() if s.split == split)
            == (counts[split])
        )


# -- MetaShift ---------------------------------------------------------------------------------
SUBPOPBENCH_DIRS = {  # generate_metadata_metashift: folder -> (y, a)
    "train/cat/cat(indoor)": (1, 1),
    "train/dog/dog(outdoor)": (0, 0),
    "test/cat/cat(outdoor)": (1, 0),
    "test/dog/dog(indoor)": (0, 1),
}


def subpopbench_metashift(data: Path, per_folder: int = 3) -> Path:
    """<data>/metashift/ with SubpopBench's folders and its metadata_metashift.csv."""
    ms_dir = data / "metashift"
    rows = []
    for folder, (y, a) in SUBPOPBENCH_DIRS.items():
        for i in range(per_folder):
            path = write_image(ms_dir / "MetaShift-Cat-Dog-indoor-outdoor" / folder / f"{i}.jpg")
            rows.append({"filename": path, "y": y, "a": a})
    df = pd.DataFrame(rows)
    df["split"] = [k % 3 for k in range(len(df))]  # any assignment: it must be kept as is
    df.to_csv(ms_dir / "metadata_metashift.csv", index=False)
    return ms_dir


def test_metashift_reads_subpopbench_csv_with_absolute_paths(tmp_path):
    ms_dir = subpopbench_metashift(tmp_path)
    got = load_dataset("metashift", ms_dir)
    table = pd.read_csv(ms_dir / "metadata_metashift.csv")
    codes = {"train": 0, "val": 1, "test": 2}
    assert [(str(r.path), r.y, r.a, codes[r.split]) for r in got.records] == [
        (str(Path(f).resolve()), y, a, s) for f, y, a, s in table.itertuples(index=False)
    ]
    assert (got.class_names, got.attr_names) == (["dog", "cat"], ["outdoor", "indoor"])
    generic = load_dataset("metadata-csv", ms_dir, csv="metadata_metashift.csv")
    assert [r.path for r in generic.records] == [r.path for r in got.records]

    outside = write_image(tmp_path / "elsewhere" / "x.jpg")
    table.loc[0, "filename"] = str(outside)
    table.to_csv(ms_dir / "metadata_metashift.csv", index=False)
    with pytest.raises(DatasetError, match=r"row 1: absolute path .* is not under the dataset"):
        load_dataset("metashift", ms_dir)


DISC_FOLDERS = {  # DISC's MetaDatasetCatDog: folder -> (y, context index)
    "train/cat/cat(sofa)": (0, 0),
    "train/cat/cat(bed)": (0, 1),
    "train/dog/dog(bench)": (1, 2),
    "train/dog/dog(bike)": (1, 3),
    "test/cat/cat(shelf)": (0, 4),
    "test/dog/dog(shelf)": (1, 4),
}


def test_metashift_reads_discs_layout_with_discs_splits(tmp_path):
    from sklearn.model_selection import train_test_split

    base = tmp_path / "metashifts" / "MetaDatasetCatDog"
    for n, folder in enumerate(DISC_FOLDERS):
        for i in range(4 + n):  # uneven group sizes
            write_image(base / folder / f"{i:02d}.jpg")
    write_image(base / "train" / "cat" / "cat(keyboard)" / "x.jpg")  # not one of DISC's
    got = load_dataset("metashift", tmp_path)
    assert got.root == base.resolve() and got.params["layout"] == "disc"
    assert (got.class_names, got.attr_names) == (["cat", "dog"], DISC_CONTEXTS)
    for r in got.records:
        assert (r.y, r.a) == DISC_FOLDERS[str(Path(r.meta["filename"]).parent)]
    assert "cat(keyboard)" not in {Path(r.meta["filename"]).parent.name for r in got.records}
    # DISC: test folders' images (cat then dog, as listed) -> 15% val by train_test_split.
    test_files = [r.meta["filename"] for r in got.records if r.meta["folder_split"] == "test"]
    val_idx, _ = train_test_split(np.arange(len(test_files)), test_size=0.85, random_state=0)
    expected_val = {test_files[i] for i in val_idx}
    assert {r.meta["filename"] for r in got.records if r.split == "val"} == expected_val
    assert {r.split for r in got.records if r.meta["folder_split"] == "train"} == {"train"}
    # 17 test images: sklearn puts ceil(0.85 * 17) = 15 in test, 2 in val.
    assert Counter(r.split for r in got.records) == {"train": 4 + 5 + 6 + 7, "val": 2, "test": 15}


DISC_CONTEXTS = ["sofa", "bed", "bench", "bike", "shelf"]


def test_metashift_disc_layout_names_a_missing_folder(tmp_path):
    write_image(tmp_path / "train" / "cat" / "cat(sofa)" / "0.jpg")
    with pytest.raises(DatasetError, match=r"cat\(bed\)' is missing: DISC's MetaShift layout"):
        load_dataset("metashift", tmp_path)


# -- Waterbirds --------------------------------------------------------------------------------
def test_waterbirds_root_may_be_the_folder_holding_the_dataset(tmp_path):
    inner = tmp_path / "waterbirds" / "waterbird_complete95_forest2water2"
    inner.mkdir(parents=True)
    make_csv_dataset(inner, "waterbirds")
    got = load_dataset("waterbirds", tmp_path / "waterbirds")
    assert got.root == inner.resolve() and len(got.records) == 3
    assert [r.path for r in got.records] == [
        r.path for r in load_dataset("waterbirds", inner).records
    ]


# -- Colored Digits and LfF's Colored MNIST ----------------------------------------------------
def lff_conflicting(n: int, n_attrs: int, label: int, bias_aligned_ratio: float) -> int:
    """LfF's make_attr_labels for one class: conflicting samples among its n."""
    ratios = bias_aligned_ratio * np.eye(n_attrs) + (1 - bias_aligned_ratio) / (n_attrs - 1) * (
        1 - np.eye(n_attrs)
    )
    milestones = (n * np.cumsum(ratios, axis=1)).round()[label]
    attrs = [np.min(np.nonzero(milestones > idx)[0]) for idx in range(n)]
    return sum(a != label for a in attrs)


@pytest.mark.parametrize("bias_ratio", [0.995, 0.99, 0.98, 0.95])
def test_colored_digits_counts_match_lffs(bias_ratio):
    """8 digits x 8 colours (LfF's square setting), 500 train images per class."""
    config = ColoredDigitsConfig(
        bias_ratio=bias_ratio,
        classes=tuple(range(8)),
        train_per_class=500,
        val_fraction=0.02,
        test_fraction=0.02,
    )
    train = [s for s in render_dataset(config) if s.split == "train"]
    conflicting = Counter(s.y for s in train if s.a != s.y)
    for y in range(8):
        assert conflicting[y] == lff_conflicting(500, 8, y, bias_ratio), y
    if bias_ratio == 0.995:  # LfF: 2 or 3 per class; rounding 2.5000000000000004 gave 3 each
        assert set(conflicting.values()) == {2, 3}
