"""Validation helpers, the adapter registry and the Colored Digits generator."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest
from dataset_files import write_image

from debias_core.data import DATASETS, DatasetError, load_dataset
from debias_core.data.validate import (
    check_image,
    normalize_split,
    parse_label,
    read_csv_rows,
    resolve_inside,
)

# ---------------------------------------------------------------- helpers and registry


def test_registry_and_option_errors(tmp_path):
    names = {"colored-digits", "metadata-csv", "waterbirds", "celeba", "metashift", "folder-csv"}
    assert set(DATASETS.names()) >= names | {"coco-stuff"}
    valid = "valid: celeba, coco-stuff, colored-digits"
    with pytest.raises(ValueError, match=f"unknown dataset 'nope'; {valid}"):
        load_dataset("nope", tmp_path)
    with pytest.raises(DatasetError, match=r"'waterbirds'.*'colour'.*valid options: \['csv'"):
        load_dataset("waterbirds", tmp_path, colour="red")
    with pytest.raises(DatasetError, match="'colored-digits'.*'colour'"):
        load_dataset("colored-digits", tmp_path, colour="red")
    with pytest.raises(DatasetError, match="not a directory"):
        load_dataset("metadata-csv", tmp_path / "missing")


@pytest.mark.parametrize(
    "value,split",
    [("train", "train"), ("0", "train"), (" VAL ", "val"), ("valid", "val"),
     ("validation", "val"), ("1", "val"), ("test", "test"), ("2", "test")],
)  # fmt: skip
def test_normalize_split(value, split):
    assert normalize_split(value, "w") == split


@pytest.mark.parametrize("value", ["3", "-1", "dev", ""])
def test_normalize_split_rejects(value):
    with pytest.raises(DatasetError, match=f"w: unknown split {value!r}"):
        normalize_split(value, "w")


def test_parse_label():
    assert parse_label(" 12 ", "w", "y") == 12
    for bad in ["1.0", "1.5", "-1", "cat", "", "1e3", "٣"]:
        with pytest.raises(DatasetError, match="w: column 'y' must be a non-negative integer"):
            parse_label(bad, "w", "y")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "t.csv.*empty"),
        ("a,b\n", "t.csv.*no data rows"),
        ("a,a\n1,2\n", "repeated column"),
        ("a,b\n1,2\n3\n", "t.csv row 2: 1 fields, expected 2"),
    ],
)
def test_read_csv_rows_rejects_bad_files(tmp_path, text, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message):
        read_csv_rows(path, ["a"])


def test_read_csv_rows_strips_bom_spaces_and_blank_lines(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("\ufeff a ,b\r\n1, x \r\n\r\n".encode())
    assert read_csv_rows(path, ["a", "b"]) == [{"a": "1", "b": "x"}]
    with pytest.raises(DatasetError, match="CSV file not found"):
        read_csv_rows(tmp_path / "none.csv", ["a"])


def test_resolve_inside_allows_inner_dotdot_and_inner_symlinks(tmp_path):
    write_image(tmp_path / "a" / "x.png")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "link.png").symlink_to(tmp_path / "a" / "x.png")
    assert resolve_inside(tmp_path, "b/../a/x.png", "w") == (tmp_path / "a/x.png").resolve()
    assert resolve_inside(tmp_path, "b/link.png", "w") == (tmp_path / "a/x.png").resolve()
    with pytest.raises(DatasetError, match="is not a file"):
        resolve_inside(tmp_path, "a", "w")


def test_check_image_returns_size(tmp_path):
    assert check_image(write_image(tmp_path / "x.png", size=(8, 6)), "w") == (8, 6)


# ---------------------------------------------------------------- Colored Digits


TINY = {"classes": (0, 1), "palette": ("red", "green"), "train_per_class": 20}


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_colored_digits_balanced_eval_and_byte_identical(tmp_path):
    first = load_dataset("colored-digits", tmp_path / "one", **TINY)
    second = load_dataset("colored-digits", tmp_path / "two", **TINY)
    for split in ("val", "test"):
        groups = Counter((r.y, r.a) for r in first.records if r.split == split)
        assert set(groups) == {(0, 0), (0, 1), (1, 0), (1, 1)}
        assert groups[(0, 0)] == groups[(0, 1)] and groups[(1, 0)] == groups[(1, 1)]
    assert Counter(r.y for r in first.records if r.split == "train") == {0: 20, 1: 20}
    hashes = _hashes(tmp_path / "one")
    assert hashes and hashes == _hashes(tmp_path / "two")
    key = [(r.path.name, r.y, r.a, r.split) for r in first.records]
    assert key == [(r.path.name, r.y, r.a, r.split) for r in second.records]


def test_colored_digits_world_and_task_pools_are_disjoint():
    from debias_core.data.colored_digits import load_pools

    world, task = load_pools(seed=0)
    assert not set(world.source_index.tolist()) & set(task.source_index.tolist())
    assert len(world.source_index) + len(task.source_index) == 1797
