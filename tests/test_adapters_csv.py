"""CSV-based adapters (metadata.csv, Waterbirds, folder + CSV): good rows and every bad kind."""

from __future__ import annotations

from pathlib import Path

import pytest
from dataset_files import FORMATS, ROWS, huge_png, make_csv_dataset, write_image

from debias_core.data import DatasetError, load_dataset

# ---------------------------------------------------------------- the good path


@pytest.mark.parametrize("fmt", FORMATS)
def test_csv_formats_read_every_row(tmp_path, fmt):
    _, options = make_csv_dataset(tmp_path, fmt)
    got = load_dataset(fmt, tmp_path, **options)
    assert [(r.path, r.y, r.a, r.split) for r in got.records] == [
        (tmp_path.resolve() / "imgs/a.png", 0, 0, "train"),
        (tmp_path.resolve() / "imgs/b.jpg", 1, 1, "val"),
        (tmp_path.resolve() / "imgs/c.png", 1, 0, "test"),
    ]
    assert got.name == fmt
    assert got.records[1].meta["filename"] == "imgs/b.jpg"
    expected_names = {
        "metadata-csv": (["class 0", "class 1"], ["attr 0", "attr 1"]),
        "waterbirds": (["landbird", "waterbird"], ["land", "water"]),
        "folder-csv": (["0", "1"], ["0", "1"]),
    }[fmt]
    assert (got.class_names, got.attr_names) == expected_names


def test_metadata_csv_keeps_extra_columns_and_image_dir(tmp_path):
    write_image(tmp_path / "img_align_celeba" / "000001.jpg")
    (tmp_path / "m.csv").write_text("\ufeffid,filename,split,y,a\n7,000001.jpg,0,1,0\n\n")
    got = load_dataset("metadata-csv", tmp_path, csv="m.csv", image_dir="img_align_celeba")
    assert got.records[0].meta == {"filename": "000001.jpg", "id": "7"}
    assert got.class_names == ["class 0", "class 1"]


def test_folder_csv_maps_string_labels_by_sorted_value(tmp_path):
    rows = [
        ("imgs/a.png", "dog", "outdoor", "train"),
        ("imgs/b.png", "cat", "indoor", "valid"),
        ("imgs/c.png", "dog", "indoor", "validation"),
        ("imgs/d.png", "bird", "outdoor", "test"),
    ]
    _, options = make_csv_dataset(tmp_path, "folder-csv", rows)
    got = load_dataset("folder-csv", tmp_path, **options)
    assert got.class_names == ["bird", "cat", "dog"]
    assert got.attr_names == ["indoor", "outdoor"]
    assert [(r.y, r.a, r.split) for r in got.records] == [
        (2, 1, "train"),
        (1, 0, "val"),
        (2, 0, "val"),
        (0, 1, "test"),
    ]


def test_folder_csv_numeric_labels_sort_as_numbers_and_attr_is_optional(tmp_path):
    rows = [("imgs/a.png", "10", "x", "train"), ("imgs/b.png", "2", "x", "test")]
    _, options = make_csv_dataset(tmp_path, "folder-csv", rows)
    got = load_dataset("folder-csv", tmp_path, **{**options, "attr_column": None})
    assert got.class_names == ["2", "10"]
    assert [(r.y, r.a) for r in got.records] == [(1, 0), (0, 0)]
    assert got.attr_names == ["all"]
    assert got.records[0].meta == {"filename": "imgs/a.png", "bg": "x"}


# ---------------------------------------------------------------- bad inputs, CSV formats


def _replace(rows, index, **changes):
    rows = [list(r) for r in rows]
    keys = ["filename", "y", "a", "split"]
    for key, value in changes.items():
        rows[index][keys.index(key)] = value
    return [tuple(r) for r in rows]


def _outside_file(root: Path) -> str:
    write_image(root.parent / "x.png")
    return "../x.png"


def _symlink_out(root: Path) -> str:
    target = write_image(root.parent / "secret.png")
    (root / "imgs").mkdir(parents=True, exist_ok=True)
    (root / "imgs" / "link.png").symlink_to(target)
    return "imgs/link.png"


def _truncated(root: Path) -> str:
    path = write_image(root / "imgs" / "broken.png")
    path.write_bytes(path.read_bytes()[:-20])  # cut inside the pixel data
    return "imgs/broken.png"


def _huge_header(root: Path) -> str:
    (root / "imgs").mkdir(parents=True, exist_ok=True)
    huge_png(root / "imgs" / "huge.png", 100_000, 100_000)  # beyond PIL's own bomb guard
    return "imgs/huge.png"


def _big_header(root: Path) -> str:
    (root / "imgs").mkdir(parents=True, exist_ok=True)
    huge_png(root / "imgs" / "big.png", 10_000, 10_000)  # over our 64 M default, under PIL's
    return "imgs/big.png"


# (case id, changes to data row 2 (a callable gets the root and returns a filename),
#  substring the message must contain, whether the case needs integer labels: folder-csv
#  takes any string as a label)
BAD_ROWS = [
    ("unknown split", {"split": "holdout"}, "'holdout'", False),
    ("string label", {"y": "cat"}, "'cat'", True),
    ("float label", {"y": "1.5"}, "'1.5'", True),
    ("negative label", {"a": "-1"}, "'-1'", True),
    ("missing image", {"filename": "gone/missing.png"}, "not found", False),
    ("dotdot escape", {"filename": _outside_file}, "outside the dataset root", False),
    ("absolute path", {"filename": "/etc/passwd"}, "absolute path '/etc/passwd'", False),
    ("symlink escape", {"filename": _symlink_out}, "outside the dataset root", False),
    ("duplicate image", {"filename": "imgs/a.png"}, "already listed at", False),
    ("truncated image", {"filename": _truncated}, "corrupt or truncated", False),
    ("bomb header", {"filename": _huge_header}, "too large", False),
    ("over max_pixels", {"filename": _big_header}, "over the limit of 64000000", False),
]


@pytest.mark.parametrize(
    "fmt,changes,expected",
    [(fmt, c[1], c[2]) for fmt in FORMATS for c in BAD_ROWS if fmt != "folder-csv" or not c[3]],
    ids=[f"{fmt}-{c[0]}" for fmt in FORMATS for c in BAD_ROWS if fmt != "folder-csv" or not c[3]],
)
def test_bad_row_names_file_and_row(tmp_path, fmt, changes, expected):
    root = tmp_path / "ds"
    root.mkdir()
    changes = {k: v(root) if callable(v) else v for k, v in changes.items()}
    csv_path, options = make_csv_dataset(root, fmt, _replace(ROWS, 1, **changes))
    with pytest.raises(DatasetError) as err:
        load_dataset(fmt, root, **options)
    message = str(err.value)
    assert f"{csv_path.name} row 2" in message
    assert expected in message


def test_small_max_pixels_option_is_enforced(tmp_path):
    make_csv_dataset(tmp_path, "metadata-csv")
    write_image(tmp_path / "imgs/b.jpg", size=(16, 16))
    with pytest.raises(DatasetError, match=r"metadata.csv row 2: .*16x16 pixels, over the limit"):
        load_dataset("metadata-csv", tmp_path, max_pixels=100)
    assert len(load_dataset("metadata-csv", tmp_path, max_pixels=256).records) == 3


def test_waterbirds_labels_must_be_binary(tmp_path):
    make_csv_dataset(tmp_path, "waterbirds", _replace(ROWS, 2, a="2"))
    with pytest.raises(
        DatasetError, match=r"metadata.csv row 3: column 'place' must be one of 0..1"
    ):
        load_dataset("waterbirds", tmp_path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_column_names_file_and_column(tmp_path, fmt):
    csv_name, columns, options = FORMATS[fmt]
    make_csv_dataset(tmp_path, fmt, [r[:3] for r in ROWS], header=columns[:3])
    with pytest.raises(DatasetError) as err:
        load_dataset(fmt, tmp_path, **options)
    assert csv_name in str(err.value)
    assert f"missing column(s) ['{columns[3]}']" in str(err.value)


def test_folder_csv_empty_label_names_row(tmp_path):
    _, options = make_csv_dataset(tmp_path, "folder-csv", _replace(ROWS, 2, y=""))
    with pytest.raises(DatasetError, match=r"labels.csv row 3: column 'species' is empty"):
        load_dataset("folder-csv", tmp_path, **options)


def test_nothing_is_returned_when_the_last_image_is_bad(tmp_path):
    """Rows are all parsed first, then every image is decoded: the last one still fails."""
    make_csv_dataset(tmp_path, "metadata-csv")
    (tmp_path / "imgs/c.png").write_bytes(b"not an image at all")
    with pytest.raises(DatasetError, match=r"metadata.csv row 3: image .*c.png.* corrupt"):
        load_dataset("metadata-csv", tmp_path)
