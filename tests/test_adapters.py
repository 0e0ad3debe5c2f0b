"""Dataset adapters: tiny fixture datasets in each format, and every kind of bad input."""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from debias_core.data import DATASETS, DatasetError, load_dataset
from debias_core.data.validate import (
    check_image,
    normalize_split,
    parse_label,
    read_csv_rows,
    resolve_inside,
)

# ---------------------------------------------------------------- fixture writers


def write_image(path: Path, size: tuple[int, int] = (8, 8), colour=(200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)  # format from the suffix (.png / .jpg)
    return path


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    return path


def huge_png(path: Path, width: int, height: int) -> Path:
    """A PNG whose header declares `width` x `height` pixels; no pixel data is allocated."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


# Canonical rows (filename, y, a, split) and how each CSV format names its columns.
ROWS = [
    ("imgs/a.png", "0", "0", "train"),
    ("imgs/b.jpg", "1", "1", "1"),
    ("imgs/c.png", "1", "0", "2"),
]
FORMATS = {
    "metadata-csv": ("metadata.csv", ["filename", "y", "a", "split"], {}),
    "waterbirds": ("metadata.csv", ["img_filename", "y", "place", "split"], {}),
    "folder-csv": (
        "labels.csv",
        ["file", "species", "bg", "part"],
        {
            "csv": "labels.csv",
            "path_column": "file",
            "label_column": "species",
            "attr_column": "bg",
            "split_column": "part",
        },
    ),
}


def make_csv_dataset(root: Path, fmt: str, rows=ROWS, header=None) -> tuple[Path, dict]:
    """Write the format's CSV and any missing imgs/ images; returns (csv path, options)."""
    csv_name, columns, options = FORMATS[fmt]
    for row in rows:
        if row[0].startswith("imgs/") and not (root / row[0]).exists():
            write_image(root / row[0])
    return write_csv(root / csv_name, header or columns, [list(r) for r in rows]), dict(options)


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


# ---------------------------------------------------------------- CelebA


def make_celeba(root: Path, n: int = 4, names=("Blond_Hair", "Male", "Young")) -> None:
    lines = [str(n), " ".join(names)]
    partition = []
    for i in range(n):
        filename = f"{i + 1:06d}.jpg"
        write_image(root / "img_align_celeba" / filename)
        values = [1 if (i >> k) & 1 else -1 for k in range(len(names))]
        lines.append(f"{filename} " + " ".join(f"{v:2d}" for v in values))
        partition.append(f"{filename} {i % 3}")
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (root / "list_eval_partition.txt").write_text("\n".join(partition) + "\n")


def test_celeba_reads_target_and_bias_by_name(tmp_path):
    make_celeba(tmp_path)
    got = load_dataset("celeba", tmp_path)
    assert [(r.path.name, r.y, r.a, r.split) for r in got.records] == [
        ("000001.jpg", 0, 0, "train"),
        ("000002.jpg", 1, 0, "val"),
        ("000003.jpg", 0, 1, "test"),
        ("000004.jpg", 1, 1, "train"),
    ]
    assert got.class_names == ["not Blond_Hair", "Blond_Hair"]
    assert got.attr_names == ["not Male", "Male"]
    young = load_dataset("celeba", tmp_path, target="Young", bias="Blond_Hair")
    assert [(r.y, r.a) for r in young.records] == [(0, 0), (0, 1), (0, 0), (0, 1)]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


CELEBA_BAD = [
    ("value 0", "list_attr_celeba.txt", "000002.jpg  1", "000002.jpg  0", "row 2", "got '0'"),
    (
        "short row",
        "list_attr_celeba.txt",
        "000003.jpg -1  1 -1",
        "000003.jpg -1",
        "row 3",
        "fields",
    ),
    ("bad count", "list_attr_celeba.txt", "4\n", "5\n", "line 1 says 5", "4 rows"),
    ("bad split", "list_eval_partition.txt", "000002.jpg 1", "000002.jpg 7", "row 2", "'7'"),
    ("no split", "list_eval_partition.txt", "000004.jpg 0\n", "", "row 4", "has no row"),
    (
        "extra split",
        "list_eval_partition.txt",
        "000004.jpg 0",
        "000004.jpg 0\nx.jpg 1",
        "row 5",
        "'x.jpg'",
    ),
]


@pytest.mark.parametrize(
    "file,old,new,where,expected", [c[1:] for c in CELEBA_BAD], ids=[c[0] for c in CELEBA_BAD]
)
def test_celeba_bad_files_name_file_and_row(tmp_path, file, old, new, where, expected):
    make_celeba(tmp_path)
    _edit(tmp_path / file, old, new)
    with pytest.raises(DatasetError) as err:
        load_dataset("celeba", tmp_path)
    message = str(err.value)
    assert where in message and expected in message
    assert ".txt" in message


def test_celeba_unknown_attribute_lists_valid_names(tmp_path):
    make_celeba(tmp_path)
    with pytest.raises(DatasetError, match=r"target='Blond'.*\['Blond_Hair', 'Male', 'Young'\]"):
        load_dataset("celeba", tmp_path, target="Blond")
    with pytest.raises(DatasetError, match="must differ"):
        load_dataset("celeba", tmp_path, target="Male")


def test_celeba_missing_and_corrupt_images_name_the_row(tmp_path):
    make_celeba(tmp_path)
    (tmp_path / "img_align_celeba" / "000003.jpg").unlink()
    with pytest.raises(DatasetError, match=r"list_attr_celeba.txt row 3: image '000003.jpg' not"):
        load_dataset("celeba", tmp_path)
    write_image(tmp_path / "img_align_celeba" / "000003.jpg")
    jpg = tmp_path / "img_align_celeba" / "000004.jpg"
    jpg.write_bytes(jpg.read_bytes()[:-30])
    with pytest.raises(DatasetError, match=r"list_attr_celeba.txt row 4: .*corrupt or truncated"):
        load_dataset("celeba", tmp_path)


# ---------------------------------------------------------------- MetaShift

GROUPS = {
    "train/cat/cat(indoor)": (1, 1),
    "train/dog/dog(outdoor)": (0, 0),
    "test/cat/cat(outdoor)": (1, 0),
    "test/dog/dog(indoor)": (0, 1),
}


def make_metashift(root: Path, per_group: int = 5) -> Path:
    base = root / "MetaShift-Cat-Dog-indoor-outdoor"
    for folder in GROUPS:
        for i in range(per_group):
            write_image(base / folder / f"{folder[-8:-1]}{i}.jpg")
    (base / "imageID_to_group.pkl").write_bytes(b"never unpickled")
    return base


def test_metashift_folders_give_groups_and_random_splits(tmp_path):
    base = make_metashift(tmp_path)
    got = load_dataset("metashift", tmp_path)
    assert got.root == base.resolve()
    assert (got.class_names, got.attr_names) == (["dog", "cat"], ["outdoor", "indoor"])
    for r in got.records:
        assert (r.y, r.a) == GROUPS[str(Path(r.meta["filename"]).parent)]
    assert Counter(r.split for r in got.records) == {"train": 13, "test": 5, "val": 2}
    again = load_dataset("metashift", base)  # the folder itself works too
    assert [r.split for r in again.records] == [r.split for r in got.records]
    kept = load_dataset("metashift", tmp_path, split="folders")
    assert [r.split for r in kept.records] == [r.meta["folder_split"] for r in kept.records]
    assert Counter(r.split for r in kept.records) == {"train": 10, "test": 10}


def test_metashift_rejects_unexpected_folders_and_bad_images(tmp_path):
    base = make_metashift(tmp_path)
    write_image(base / "train" / "cat" / "cat(sofa)" / "x.jpg")
    with pytest.raises(DatasetError, match=r"cat\(sofa\).*expected folders"):
        load_dataset("metashift", tmp_path)
    (base / "train" / "cat" / "cat(sofa)" / "x.jpg").unlink()
    (base / "train" / "cat" / "cat(sofa)").rmdir()
    outside = write_image(tmp_path / "elsewhere.jpg")
    (base / "test" / "dog" / "dog(indoor)" / "link.jpg").symlink_to(outside)
    with pytest.raises(DatasetError, match=r"link.jpg.*outside the dataset root"):
        load_dataset("metashift", tmp_path)
    (base / "test" / "dog" / "dog(indoor)" / "link.jpg").unlink()
    (base / "test" / "dog" / "dog(indoor)" / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(DatasetError, match=r"bad.jpg.*corrupt or truncated"):
        load_dataset("metashift", tmp_path)


# ---------------------------------------------------------------- helpers and registry


def test_registry_and_option_errors(tmp_path):
    names = {"colored-digits", "metadata-csv", "waterbirds", "celeba", "metashift", "folder-csv"}
    assert set(DATASETS.names()) >= names
    with pytest.raises(ValueError, match="unknown dataset 'nope'; valid: celeba, colored-digits"):
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


def test_read_csv_rows_edge_cases(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("")
    with pytest.raises(DatasetError, match="t.csv.*empty"):
        read_csv_rows(path, ["a"])
    path.write_text("a,b\n")
    with pytest.raises(DatasetError, match="t.csv.*no data rows"):
        read_csv_rows(path, ["a"])
    path.write_text("a,a\n1,2\n")
    with pytest.raises(DatasetError, match="repeated column"):
        read_csv_rows(path, ["a"])
    path.write_text("a,b\n1,2\n3\n")
    with pytest.raises(DatasetError, match="t.csv row 2: 1 fields, expected 2"):
        read_csv_rows(path, ["a"])
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
