"""Curation CSV round trip (decisions and tags), refusal of bad files, and the export zip."""

from __future__ import annotations

import csv
import zipfile

import numpy as np
import pytest

from debias_core.data.curation_io import (
    curation_rows,
    export_zip,
    import_curation_csv,
    write_curation_csv,
)
from debias_core.store import GeneratedImage, Recipe, Store


def make_store(root) -> Store:
    """Two calls give two projects with the same samples (same ids, same images)."""
    store = Store.create(root, {"class_names": ["zero", "one"], "attr_names": ["r", "g"]})
    recipe = Recipe(method="txt2img", backbone_id="embedded", backbone_hash="abc", seed=0)
    images = [
        GeneratedImage(np.full((8, 8, 3), 10 * k, np.uint8), y=k % 2, a=0, recipe=recipe)
        for k in range(6)
    ]
    store.add_generated_unit(None, None, images)
    return store


def state(store: Store) -> dict:
    return {i: (store.status_of(i), store.tags_of(i)) for i in store.sample_ids()}


def test_round_trip_reproduces_statuses_and_tags(tmp_path):
    source = make_store(tmp_path / "a")
    source.decide([1, 2], "accept", "ann", reason="sharp")
    source.decide([3], "reject", "ann", reason="wrong digit")
    source.decide([2], "reject", "bob")  # the latest decision is the one exported
    source.add_tags([3, 4], ["blurry"], "ann")
    path = tmp_path / "curation.csv"
    assert write_curation_csv(source, path) == 4  # 1, 2, 3 decided; 4 tagged only
    target = make_store(tmp_path / "b")
    target.decide([5], "accept", "carl")  # not in the file: left alone
    result = import_curation_csv(target, path, "importer")
    assert (result.rows, result.decisions, result.tags_added, result.tags_removed) == (4, 3, 2, 0)
    expected = state(source) | {5: ("accepted", [])}
    assert state(target) == expected
    assert target.decisions_for(3)[-1]["reason"] == "wrong digit"
    assert target.decisions_for(1)[-1]["reviewer"] == "importer"
    again = import_curation_csv(target, path, "importer")  # idempotent: nothing new appended
    assert (again.decisions, again.tags_added, again.tags_removed) == (0, 0, 0)


def test_only_peoples_decisions_travel_and_pending_leaves_policies_alone(tmp_path):
    store = make_store(tmp_path / "a")
    store.decide_as_policy([1, 2], "needs-review", "rule")
    store.decide_as_policy([3], "accept", "rule")
    store.decide([2], "reject", "ann", reason="blurry")
    rows = {r["sample_id"]: r for r in curation_rows(store)}
    assert list(rows) == [2] and (rows[2]["status"], rows[2]["reason"]) == ("rejected", "blurry")
    path = tmp_path / "curation.csv"
    path.write_text("sample_id,status\n1,pending\n2,pending\n3,rejected\n")
    result = import_curation_csv(store, path, "importer", check_sha256=False)  # policy kept
    assert (result.decisions, store.status_of(1), store.status_of(2)) == (
        2,
        "needs-review",
        "needs-review",
    )
    assert store.status_of(3) == "rejected"  # the person outranks the policy's accept


def test_import_can_return_to_pending_and_replace_tags(tmp_path):
    store = make_store(tmp_path / "a")
    store.decide([1], "accept", "ann")
    store.decide([1], "reject", "ann")
    store.add_tags([1], ["x", "y"], "ann")
    path = tmp_path / "c.csv"
    path.write_text("sample_id,status,tags\n1,pending,y;z\n")
    result = import_curation_csv(store, path, "ann", check_sha256=False)
    assert store.status_of(1) == "pending" and store.tags_of(1) == ["y", "z"]
    assert (result.decisions, result.tags_added, result.tags_removed) == (2, 1, 1)
    assert [d["decision"] for d in store.decisions_for(1)] == ["accept", "reject", "undo", "undo"]


@pytest.mark.parametrize(
    "text, match",
    [
        ("id,status\n1,accepted\n", "needs a 'sample_id' column"),
        ("sample_id,reason\n1,x\n", "'status' or a 'tags' column"),
        (
            "sample_id,status\n1,accepted\nabc,accepted\n",
            "line 3: sample_id must be a whole number",
        ),
        ("sample_id,status\n1,accepted\n99,accepted\n", "line 3: no sample with id 99"),
        ("sample_id,status\n1,accepted\n1,rejected\n", "listed twice"),
        ("sample_id,status\n1,maybe\n", "status must be one of"),
        ("sample_id,sha256,status\n1,deadbeef,accepted\n", "different image"),
        ("sample_id,tags\n1,ok\n2,a\x01b\n", "line 3: a tag cannot contain"),
    ],
)
def test_a_bad_file_changes_nothing(tmp_path, text, match):
    store = make_store(tmp_path / "a")
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        import_curation_csv(store, path, "ann", check_sha256=False)
    assert store.query("select count(*) as n from decisions")[0]["n"] == 0
    assert store.tag_counts() == {}


def test_export_zip_holds_the_export_and_the_curation_file(tiny_project, tmp_path):
    from debias_core.store import SampleFilter

    real = tiny_project.sample_ids(SampleFilter(source="real"))
    tiny_project.add_tags(real[:2], ["mislabeled"], "ann")
    out = export_zip(tiny_project, tmp_path / "out" / "curated.zip")
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        assert {"curated/metadata.csv", "curated/curation.csv"} <= names
        rows = list(csv.DictReader(zf.read("curated/metadata.csv").decode().splitlines()))
        assert len(rows) == len(real)
        assert sum(n.startswith("curated/images/") and n.endswith(".png") for n in names) == len(
            real
        )
        curation = list(csv.DictReader(zf.read("curated/curation.csv").decode().splitlines()))
    tagged = [(int(r["sample_id"]), r["tags"]) for r in curation]
    assert tagged == [(i, "mislabeled") for i in real[:2]]
    assert curation_rows(tiny_project)[0]["source"] == "real"
    with pytest.raises(FileExistsError):
        export_zip(tiny_project, out)
    with pytest.raises(ValueError, match=r"\.zip"):
        export_zip(tiny_project, tmp_path / "x.tar")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["curated.zip"]  # no leftovers
