"""CelebA and MetaShift adapters: their own layouts, and bad files named by file and row."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from dataset_files import write_image

from debias_core.data import DatasetError, load_dataset

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
