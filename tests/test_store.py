"""The project store: schema, migrations, provenance, decisions, group counts."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from debias_core.store import GeneratedImage, NotAProject, Recipe, SampleFilter, Store
from debias_core.store.schema import MIGRATIONS


def _recipe(seed=0, method="txt2img"):
    return Recipe(
        method=method,
        backbone_id="embedded",
        backbone_hash="abc",
        seed=seed,
        prompt="a photo of digit 1 on a red background",
        source_ids=(1, 2),
        params={"template": "vanilla"},
    )


def _image(value: int) -> np.ndarray:
    return np.full((8, 8, 3), value, np.uint8)


@pytest.fixture
def store(tmp_path):
    return Store.create(tmp_path / "p", {"class_names": ["zero", "one"], "attr_names": ["r", "g"]})


def test_create_then_open_keeps_meta_and_schema(store):
    reopened = Store.open(store.root)
    assert reopened.class_names == ["zero", "one"]
    tables = set(reopened.db.table_names())
    assert {"samples", "recipes", "masks", "scores", "decisions", "jobs", "runs"} <= tables
    assert [m.name for m in MIGRATIONS.pending(reopened.db)] == []


def test_open_rejects_folders_and_files_that_are_not_projects(tmp_path):
    with pytest.raises(NotAProject, match="no project.db"):
        Store.open(tmp_path)
    (tmp_path / "project.db").write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(NotAProject, match="not a Debias Studio project"):
        Store.open(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    sqlite3.connect(other / "project.db").execute("create table x (a)").connection.commit()
    with pytest.raises(NotAProject):
        Store.open(other)


def test_older_schema_is_migrated_on_open(tmp_path):
    store = Store.create(tmp_path / "p", {})
    # Simulate a project written before the multi-label migration existed.
    with store.write() as db:
        for table in ("sample_labels", "label_names", "biased_pairs"):
            db[table].drop()
        db.execute("delete from _sqlite_migrations where name = '0003_multilabel'")
    store.close()
    reopened = Store.open(tmp_path / "p")
    assert "biased_pairs" in reopened.db.table_names()


def test_generated_unit_records_recipe_and_is_not_duplicated_on_resume(store):
    job = store.create_job("generate", {})
    images = [
        GeneratedImage(_image(k), y=1, a=0, recipe=_recipe(k), parent_id=None) for k in range(3)
    ]
    ids = store.add_generated_unit(job, "y1-a0-b0", images)
    assert len(ids) == 3
    assert store.add_generated_unit(job, "y1-a0-b0", images) == []  # resumed: skipped
    assert store.count_samples(SampleFilter(source="generated")) == 3
    sample = store.get_sample(ids[1])
    recipe = store.get_recipe(sample.recipe_id)
    assert recipe.seed == 1 and recipe.source_ids == (1, 2)
    assert recipe.params == {"template": "vanilla"}
    assert (store.root / sample.path).is_file() and sample.sha256 in sample.path


def test_identical_images_share_one_content_addressed_file(store):
    ids = store.add_generated_unit(
        None,
        None,
        [GeneratedImage(_image(7), 0, 1, _recipe(0)), GeneratedImage(_image(7), 0, 1, _recipe(1))],
    )
    a, b = (store.get_sample(i) for i in ids)
    assert a.path == b.path and a.id != b.id


def test_decisions_are_append_only_and_undo_restores_previous_status(store):
    (sid,) = store.add_generated_unit(None, None, [GeneratedImage(_image(1), 0, 1, _recipe())])
    assert store.status_of(sid) == "pending"
    assert store.decide([sid], "accept", "ana") == ["accepted"]
    assert store.decide([sid], "reject", "bo", reason="blurry") == ["rejected"]
    assert store.decide([sid], "undo", "bo") == ["accepted"]
    assert store.decide([sid], "undo", "bo") == ["pending"]
    rows = store.decisions_for(sid)
    assert [r["decision"] for r in rows] == ["accept", "reject", "undo", "undo"]
    assert rows[1]["reason"] == "blurry" and rows[1]["reviewer"] == "bo"


def test_decision_on_unknown_sample_changes_nothing(store):
    (sid,) = store.add_generated_unit(None, None, [GeneratedImage(_image(1), 0, 1, _recipe())])
    with pytest.raises(KeyError, match="no sample with id 999"):
        store.decide([sid, 999], "accept", "ana")
    assert store.decisions_for(sid) == [] and store.status_of(sid) == "pending"
    with pytest.raises(ValueError, match="decision must be one of"):
        store.decide([sid], "maybe", "ana")


def test_filters_and_group_counts(store):
    ids = store.add_generated_unit(
        None, None, [GeneratedImage(_image(k), k % 2, 1, _recipe(k)) for k in range(4)]
    )
    store.decide(ids[:2], "accept", "ana")
    assert store.count_samples(SampleFilter(status="accepted")) == 2
    assert store.count_samples(SampleFilter(status="pending", y=1)) == 1
    assert store.count_samples(SampleFilter(method="txt2img")) == 4
    counts = {(r["y"], r["a"]): r for r in store.group_counts()}
    assert counts[(0, 1)]["generated_accepted"] == 1 and counts[(0, 1)]["generated_pending"] == 1


def test_masks_and_scores(store):
    (sid,) = store.add_generated_unit(None, None, [GeneratedImage(_image(1), 0, 1, _recipe())])
    mask_id = store.add_mask(sid, np.eye(8, dtype=bool), kind="text-prompted", label="digit")
    assert store.get_mask(mask_id)["label"] == "digit"
    store.add_scores("softmax_shift", {sid: 0.25})
    store.add_scores("softmax_shift", {sid: 0.5})
    assert store.scores_for(sid)["softmax_shift"]["value"] == 0.5


def test_colored_digits_project_has_biased_train_and_balanced_test(tiny_project):
    counts = {(r["y"], r["a"]): r for r in tiny_project.group_counts()}
    assert counts[(0, 0)]["real_train"] == 36 and counts[(0, 1)]["real_train"] == 4
    assert len({r["real_test"] for r in counts.values()}) <= 2  # balanced within a class
    assert tiny_project.aligned_attrs() == {0: 0, 1: 1}
    first = tiny_project.list_samples(SampleFilter(split="train"), limit=1)[0]
    assert tiny_project.masks_for(first.id)[0]["kind"] == "exact"


def test_a_bad_dataset_leaves_no_project_behind(tmp_path):
    from debias_core.data import DatasetError
    from debias_core.data.ingest import create_project

    root = tmp_path / "wb"
    root.mkdir()
    (root / "metadata.csv").write_text("img_filename,y,place,split\nmissing.jpg,1,0,0\n")
    with pytest.raises(DatasetError, match="row 1"):
        create_project(tmp_path / "proj", "waterbirds", root)
    assert not (tmp_path / "proj").exists()
