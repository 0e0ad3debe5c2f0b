"""COCO-Stuff: a fixture in the official JSON layout imports exactly (labels, names, masks
pixel-exact against pycocotools, supercategories, splits); each bad variant is refused in one line
naming the file and the entry, and leaves no project behind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from dataset_files import write_image
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO

from debias_core.cli import main
from debias_core.data import DatasetError, load_dataset
from debias_core.data.coco_masks import compressed_counts
from debias_core.data.ingest import create_project
from debias_core.store import LabelName, semantic_siblings

THINGS = [
    {"id": 1, "name": "person", "supercategory": "person"},
    {"id": 35, "name": "skis", "supercategory": "sports"},
    {"id": 36, "name": "snowboard", "supercategory": "sports"},
]
STUFF = [
    {"id": 124, "name": "grass", "supercategory": "plant"},
    {"id": 159, "name": "snow", "supercategory": "ground"},
    {"id": 169, "name": "tree", "supercategory": "plant"},
    {"id": 183, "name": "other", "supercategory": "other"},
]
# label order: things by COCO id, then stuff by COCO id; 'other' left out
LABELS = ["person", "skis", "snowboard", "grass", "snow", "tree"]
W, H = 12, 10
TRAIN_IDS, VAL_IDS = [10, 11, 12, 13], [20, 21]
UNLABELLED = 14  # a train image without any annotation: skipped


def _rle(mask: np.ndarray) -> dict:
    """Compressed RLE as COCO-Stuff's files hold it (counts as a string)."""
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _uncompressed(mask: np.ndarray) -> dict:
    """Uncompressed RLE (COCO's crowd annotations): runs of 0 / 1, column-major."""
    flat, runs, value, run = mask.flatten(order="F"), [], 0, 0
    for pixel in flat:
        if pixel != value:
            runs.append(run)
            value, run = pixel, 0
        run += 1
    return {"size": list(mask.shape), "counts": [*runs, run]}


def _box(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def _image(image_id: int, folder: Path, suffix: str) -> dict:
    name = f"{image_id:012d}{suffix}"
    write_image(folder / name, (W, H), (image_id * 9 % 255, 80, 160))
    return {"id": image_id, "file_name": name, "width": W, "height": H, "license": 1}


def _annotations(split: str) -> tuple[list[dict], list[dict]]:
    """(thing, stuff) annotations: polygons, crowd RLE, compressed RLE, two regions of one label,
    a degenerate ring, and COCO-Stuff's 'other'."""
    ids = TRAIN_IDS if split == "train" else VAL_IDS
    things = [
        {"image_id": ids[0], "category_id": 1, "segmentation": [[1, 1, 6, 1, 6, 8, 1, 8]]},
        {"image_id": ids[0], "category_id": 1, "segmentation": [[8, 2, 11, 2, 9.5, 7]]},
        {
            "image_id": ids[0],
            "category_id": 35,
            "iscrowd": 1,
            "segmentation": _uncompressed(_box(7, 10, 0, 12)),
        },
        {
            "image_id": ids[1],
            "category_id": 36,
            "segmentation": [[2, 2, 10, 3, 5, 9], [0, 0, 1, 1]],
        },
    ]
    stuff = [
        {"image_id": ids[0], "category_id": 159, "segmentation": _rle(_box(0, 4, 0, 12))},
        {"image_id": ids[1], "category_id": 124, "segmentation": _rle(_box(5, 10, 0, 12))},
        {"image_id": ids[1], "category_id": 169, "segmentation": _rle(_box(0, 5, 3, 9))},
        {"image_id": ids[1], "category_id": 183, "segmentation": _rle(_box(2, 8, 2, 10))},
    ]
    if split == "train":  # stuff only, and 'other' only (a labelled image, and none)
        stuff.append({"image_id": 12, "category_id": 169, "segmentation": _rle(_box(0, 10, 0, 6))})
        stuff.append({"image_id": 13, "category_id": 124, "segmentation": _rle(_box(0, 3, 0, 3))})
        stuff.append({"image_id": 14, "category_id": 183, "segmentation": _rle(_box(0, 3, 0, 3))})
    # COCO's `area` decides y (largest thing) and a (largest stuff): person 30 + 12 > skis 36
    for k, (ann, area) in enumerate(zip(things, (30, 12, 36, 20), strict=True)):
        ann.update(id=100 * ids[0] + k, area=float(area), bbox=[0, 0, 1, 1])
        ann.setdefault("iscrowd", 0)
    for k, ann in enumerate(stuff):  # stuff ids follow COCO-Stuff's much larger numbering
        area = float(_coco_area(ann["segmentation"]))
        ann.update(id=10_000_000_000 + 100 * ids[0] + k, area=area, iscrowd=0)
    return things, stuff


def _coco_area(rle: dict) -> int:
    return int(coco_mask.area(dict(rle, counts=rle["counts"].encode("ascii"))))


def make_coco_stuff(root: Path) -> Path:
    for split, ids in (("train", [*TRAIN_IDS, UNLABELLED]), ("val", VAL_IDS)):
        folder = root / f"{split}2017"
        images = [_image(i, folder, ".jpg" if i % 2 else ".png") for i in ids]
        things, stuff = _annotations(split)
        for kind, cats, anns in (("instances", THINGS, things), ("stuff", STUFF, stuff)):
            body = {"info": {}, "licenses": [], "images": images, "annotations": anns}
            _write(root / "annotations" / f"{kind}_{split}2017.json", body | {"categories": cats})
    return root


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _expected_masks(root: Path) -> dict[tuple[int, str], np.ndarray]:
    """(COCO image id, category name) -> the union of its annotations, as pycocotools decodes
    them with its own COCO API (the degenerate ring aside: that API would read it as a box)."""
    out = {}
    for split in ("train", "val"):
        for kind in ("instances", "stuff"):
            api = COCO(str(root / "annotations" / f"{kind}_{split}2017.json"))
            for ann in api.dataset["annotations"]:
                name = api.cats[ann["category_id"]]["name"]
                segmentation = ann["segmentation"]
                if isinstance(segmentation, list):
                    ann = dict(ann, segmentation=[p for p in segmentation if len(p) >= 6])
                key = (ann["image_id"], name)
                out[key] = out.get(key, np.zeros((H, W), bool)) | api.annToMask(ann).astype(bool)
    return out


@pytest.fixture
def coco_root(tmp_path):
    return make_coco_stuff(tmp_path / "coco")


def test_compressed_counts_read_pycocotools_strings():
    rng = np.random.default_rng(0)
    for _ in range(50):
        h, w = rng.integers(1, 40, 2)
        mask = rng.random((h, w)) < rng.random()
        runs = compressed_counts(_rle(mask)["counts"])
        assert list(runs) == _uncompressed(mask)["counts"]
    assert compressed_counts("0" * 3 + "\x7f") is None and compressed_counts("0o") is None


def test_coco_stuff_imports_labels_masks_hierarchy_and_splits(coco_root, tmp_path):
    store = create_project(
        tmp_path / "p", "coco-stuff", coco_root, {"val_fraction": 0.5, "seed": 3}
    )
    assert store.label_rows() == [
        LabelName(0, "person", "person", "thing", 1),
        LabelName(1, "skis", "sports", "thing", 35),
        LabelName(2, "snowboard", "sports", "thing", 36),
        LabelName(3, "grass", "plant", "stuff", 124),
        LabelName(4, "snow", "ground", "stuff", 159),
        LabelName(5, "tree", "plant", "stuff", 169),
    ]
    assert store.class_names == LABELS and store.attr_names == LABELS
    assert semantic_siblings(store, 3) == [5] and semantic_siblings(store, 1) == [2]
    assert semantic_siblings(store, 0) == []
    with pytest.raises(KeyError, match="no label 9"):
        semantic_siblings(store, 9)
    samples = {s.meta["coco_id"]: s for s in store.list_samples()}
    assert sorted(samples) == [10, 11, 12, 13, 20, 21]  # 14 has only 'other': skipped
    labels = {i: sorted(store.labels_of(s.id)) for i, s in samples.items()}
    assert labels == {10: [0, 1, 4], 11: [2, 3, 5], 12: [5], 13: [3], 20: [0, 1, 4], 21: [2, 3, 5]}
    # y: the largest thing (else stuff) by COCO's area; a: the largest stuff (else y)
    groups = {i: (s.y, s.a) for i, s in samples.items()}
    assert groups == {10: (0, 4), 11: (2, 3), 12: (5, 5), 13: (3, 3), 20: (0, 4), 21: (2, 3)}
    splits = {i: s.split for i, s in samples.items()}
    assert splits[20] == splits[21] == "test"
    assert sorted(splits[i] for i in TRAIN_IDS) == ["train", "train", "val", "val"]
    params = store.meta()["dataset_params"]
    assert params["skipped_unlabelled"] == 1 and params["degenerate_polygons"] == 2
    _assert_masks_exact(store, samples, _expected_masks(coco_root))
    store.set_label_names(
        [LabelName(4, "snow", "plant", "stuff", 159)], replace=True
    )  # a user's edit
    assert semantic_siblings(store, 3) == [4, 5]


def _assert_masks_exact(store, samples, expected) -> None:
    stored = 0
    for coco_id, sample in samples.items():
        rows = [r for r in store.masks_for(sample.id) if r["segmenter"] == "dataset"]
        assert sorted(r["label"] for r in rows) == sorted(
            LABELS[k] for k in store.labels_of(sample.id)
        )
        for row in rows:
            assert row["kind"] == "object" and row["prompt"] == row["label"]
            got = store.mask_pixels(row["id"])
            assert np.array_equal(got, expected[(coco_id, row["label"])]), (coco_id, row)
            stored += 1
    assert stored == 14


def test_the_split_draw_follows_the_seed(coco_root):
    def val_ids(seed: int) -> list[int]:
        got = load_dataset("coco-stuff", coco_root, val_fraction=0.5, seed=seed)
        return sorted(r.meta["coco_id"] for r in got.records if r.split == "val")

    draws = {tuple(val_ids(seed)) for seed in range(6)}
    assert val_ids(1) == val_ids(1) and len(draws) > 1
    got = load_dataset("coco-stuff", coco_root, val_fraction=0.0)
    assert {r.split for r in got.records} == {"train", "test"}


def test_include_other_and_images_folder(coco_root):
    got = load_dataset("coco-stuff", coco_root, include_other=True)
    assert [x.name for x in got.labels][-1] == "other"
    assert 14 in {r.meta["coco_id"] for r in got.records}
    (coco_root / "images").mkdir()
    for split in ("train2017", "val2017"):
        (coco_root / split).rename(coco_root / "images" / split)
    assert len(load_dataset("coco-stuff", coco_root).records) == 6


def test_cli_init_and_stats_run_on_the_fixture(coco_root, tmp_path, capsys):
    project = tmp_path / "proj"
    argv = ["init", str(project), "--dataset", "coco-stuff", "--root", str(coco_root)]
    assert main(argv) == 0
    assert main(["stats", str(project)]) == 0
    out = capsys.readouterr().out
    assert "6 samples" in out and "person / snow" in out
    assert main(["stats", str(project), "--json"]) == 0


# ---------------------------------------------------------------- bad variants


def _edit(root: Path, name: str, change) -> None:
    path = root / "annotations" / name
    data = json.loads(path.read_text())
    change(data)
    _write(path, data)


def _set(section: str, index: int, **values):
    return lambda data: data[section][index].update(values)


def _segmentation(index: int, value):
    return _set("annotations", index, segmentation=value)


def _escape(root: Path) -> None:
    write_image(root.parent / "secret.png", (W, H))
    _edit(root, "instances_train2017.json", _set("images", 1, file_name="../../secret.png"))
    _edit(root, "stuff_train2017.json", _set("images", 1, file_name="../../secret.png"))


def _resize(root: Path) -> None:
    write_image(root / "val2017" / "000000000021.jpg", (W + 1, H))


def _duplicate(section: str, index: int):
    return lambda data: data[section].append(dict(data[section][index]))


BAD = [
    (
        "missing file",
        lambda r: (r / "annotations/stuff_val2017.json").unlink(),
        "missing annotations/stuff_val2017.json",
    ),
    (
        "not json",
        lambda r: (r / "annotations/instances_val2017.json").write_text("{oops"),
        "instances_val2017.json': not valid JSON",
    ),
    (
        "unknown category",
        lambda r: _edit(r, "instances_train2017.json", _set("annotations", 2, category_id=99)),
        "instances_train2017.json annotations[2] (id 1002): category_id 99 is not in",
    ),
    (
        "stuff category unknown",
        lambda r: _edit(r, "stuff_val2017.json", _set("annotations", 0, category_id=1)),
        "stuff_val2017.json annotations[0] (id 10000002000): category_id 1 is not in",
    ),
    (
        "unknown image",
        lambda r: _edit(r, "stuff_train2017.json", _set("annotations", 1, image_id=777)),
        "stuff_train2017.json annotations[1] (id 10000001001): image_id 777 is not in",
    ),
    (
        "short RLE",
        lambda r: _edit(
            r, "stuff_train2017.json", _segmentation(0, {"size": [H, W], "counts": "0"})
        ),
        "stuff_train2017.json annotations[0] (id 10000001000): RLE runs cover",
    ),
    (
        "bad RLE string",
        lambda r: _edit(
            r, "stuff_val2017.json", _segmentation(1, {"size": [H, W], "counts": "~~~~"})
        ),
        "stuff_val2017.json annotations[1] (id 10000002001): RLE counts string is malformed",
    ),
    (
        "negative RLE run",
        lambda r: _edit(
            r, "instances_train2017.json", _segmentation(2, {"size": [H, W], "counts": [-1, 121]})
        ),
        "instances_train2017.json annotations[2] (id 1002): RLE counts must be non-negative",
    ),
    (
        "RLE size",
        lambda r: _edit(r, "stuff_train2017.json", _segmentation(2, _rle(np.zeros((W, H), bool)))),
        "annotations[2] (id 10000001002): RLE size [12, 10] is not the image's",
    ),
    (
        "odd polygon",
        lambda r: _edit(r, "instances_val2017.json", _segmentation(0, [[1, 1, 6, 1, 6]])),
        "instances_val2017.json annotations[0] (id 2000): polygon 0 has 5 coordinates",
    ),
    (
        "NaN polygon",
        lambda r: _edit(
            r, "instances_train2017.json", _segmentation(1, [[1, 1, 6, 1, float("nan"), 8]])
        ),
        "annotations[1] (id 1001): polygon 0 has a coordinate that is not a finite number",
    ),
    (
        "huge polygon",
        lambda r: _edit(r, "instances_train2017.json", _segmentation(1, [[1, 1, 1e12, 1, 6, 8]])),
        "annotations[1] (id 1001): polygon 0 has a point far outside",
    ),
    (
        "text polygon",
        lambda r: _edit(r, "instances_train2017.json", _segmentation(0, [["1", 1, 6, 1, 6, 8]])),
        "annotations[0] (id 1000): polygon 0 must be a list of numbers",
    ),
    ("path escape", _escape, "images[1] (id 11): path '../../secret.png' points outside"),
    (
        "missing image",
        lambda r: (r / "train2017/000000000012.png").unlink(),
        "instances_train2017.json images[2] (id 12): image '000000000012.png' not found",
    ),
    ("image size", _resize, "images[1] (id 21): image"),
    (
        "duplicate image id",
        lambda r: _edit(r, "instances_val2017.json", _duplicate("images", 0)),
        "instances_val2017.json images[2] (id 20): image id 20 is listed twice",
    ),
    (
        "duplicate annotation id",
        lambda r: _edit(r, "stuff_val2017.json", _duplicate("annotations", 2)),
        "stuff_val2017.json annotations[4] (id 10000002002): annotation id 10000002002 is also "
        "annotations[2]",
    ),
    (
        "duplicate category id",
        lambda r: _edit(r, "instances_train2017.json", _duplicate("categories", 1)),
        "instances_train2017.json categories[3]: category id 35 is listed twice",
    ),
    (
        "val categories differ",
        lambda r: _edit(r, "stuff_val2017.json", _set("categories", 0, name="lawn")),
        "stuff_val2017.json': its categories differ from those of",
    ),
    (
        "stuff lists another image",
        lambda r: _edit(r, "stuff_val2017.json", _set("images", 0, id=99)),
        "stuff_val2017.json images[0] (id 99): image id 99 is not in",
    ),
    (
        "bool id",
        lambda r: _edit(r, "instances_val2017.json", _set("annotations", 0, id=True)),
        "instances_val2017.json annotations[0]: field 'id' must be an integer, got True",
    ),
]


@pytest.mark.parametrize("change,expected", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_variants_are_refused_and_leave_no_project(coco_root, tmp_path, change, expected):
    change(coco_root)
    target = tmp_path / "proj"
    with pytest.raises(DatasetError) as err:
        create_project(target, "coco-stuff", coco_root)
    message = str(err.value)
    assert expected in message and "\n" not in message
    assert not target.exists() and not list(tmp_path.glob(".proj.partial-*"))


def test_cli_refuses_a_bad_variant_in_one_line(coco_root, tmp_path, capsys):
    _edit(coco_root, "stuff_val2017.json", _segmentation(1, {"size": [H, W], "counts": "0"}))
    target = tmp_path / "proj"
    argv = ["init", str(target), "--dataset", "coco-stuff", "--root", str(coco_root)]
    assert main(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(err) == 1 and "stuff_val2017.json annotations[1] (id 10000002001)" in err[0]
    assert not target.exists()
