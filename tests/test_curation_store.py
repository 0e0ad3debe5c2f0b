"""Tags (append-only events), filters by tag / verdict / score, saved views, selection actions."""

from __future__ import annotations

import numpy as np
import pytest

from debias_core.analysis.selection import CONFIRM_ABOVE, apply_to_selection
from debias_core.store import GeneratedImage, Recipe, SampleFilter, Store
from debias_core.store.tags import clean_tag, parse_tags
from debias_core.store.views import SavedView


@pytest.fixture
def store(tmp_path):
    store = Store.create(tmp_path / "p", {"class_names": ["zero", "one"], "attr_names": ["r", "g"]})
    recipe = Recipe(method="txt2img", backbone_id="embedded", backbone_hash="abc", seed=0)
    images = [
        GeneratedImage(np.full((8, 8, 3), k, np.uint8), y=k % 2, a=0, recipe=recipe)
        for k in range(30)
    ]
    store.add_generated_unit(None, None, images)  # ids 1-30
    return store


def test_tags_are_events_and_the_current_set_is_derived(store):
    assert store.add_tags([1, 2], ["blurry", " odd  shape "], "ann", "looked wrong") == 4
    assert store.add_tags([1], ["blurry"], "bob") == 0  # already there: nothing recorded
    assert store.tags_of(1) == ["blurry", "odd shape"]
    assert store.remove_tags([1, 3], "blurry", "bob") == 1  # 3 never had it
    assert store.tags_for([1, 2, 3]) == {1: ["odd shape"], 2: ["blurry", "odd shape"]}
    assert store.tag_counts() == {"blurry": 1, "odd shape": 2}
    history = [(e["tag"], e["action"], e["reviewer"]) for e in store.tag_history(1)]
    assert history == [
        ("blurry", "add", "ann"),
        ("odd shape", "add", "ann"),
        ("blurry", "remove", "bob"),
    ]
    assert store.tag_history(1)[0]["reason"] == "looked wrong"


@pytest.mark.parametrize("bad", ["", "   ", "a,b", "a;b", "x" * 65, "bell\x07"])
def test_bad_tags_are_refused_before_anything_is_written(store, bad):
    with pytest.raises(ValueError):
        store.add_tags([1], [bad], "ann")
    assert store.tag_counts() == {}


def test_tag_text_parsing():
    assert parse_tags("a, b;a ,  c d ") == ["a", "b", "c d"]
    assert clean_tag("  many   spaces ") == "many spaces"


def test_unknown_sample_is_refused(store):
    with pytest.raises(KeyError, match="no sample with id 99"):
        store.add_tags([1, 99], ["x"], "ann")
    assert store.tags_of(1) == []


def test_filters_by_tag_verdict_and_score_range(store):
    store.add_tags([2, 4, 6], ["keep"], "ann")
    store.decide_as_policy([4], "reject", "judge", reason="wrong digit")
    store.decide_as_policy([6], "accept", "judge")
    store.decide([6], "reject", "ann")  # a person's decision is not a verdict
    store.add_scores("clip-label", {2: 0.2, 4: 0.5, 6: 0.9})
    store.add_scores("clip-label", {2: 0.95})  # a newer score supersedes the older one
    assert store.sample_ids(SampleFilter(tag="keep")) == [2, 4, 6]
    assert store.sample_ids(SampleFilter(verdict="reject")) == [4]
    assert store.sample_ids(SampleFilter(verdict="accept", tag="keep")) == [6]
    assert 2 in store.sample_ids(SampleFilter(verdict="none"))
    in_range = SampleFilter(scorer="clip-label", score_min=0.5, score_max=0.92)
    assert store.sample_ids(in_range) == [4, 6]
    assert store.sample_ids(SampleFilter(scorer="clip-label", score_min=0.93)) == [2]
    with pytest.raises(ValueError, match="needs a scorer"):
        store.sample_ids(SampleFilter(score_min=0.1))


def test_saved_views_round_trip_and_sort_by_score(store):
    store.add_scores("clip-label", {3: 0.1, 5: 0.7, 7: 0.4})
    view = SavedView(
        SampleFilter(source="generated", scorer="clip-label"), sort="-score:clip-label"
    )
    store.save_view("best first", view)
    assert store.list_views() == ["best first"]
    loaded = store.get_view("best first")
    assert loaded == view
    assert store.view_ids(loaded) == [5, 7, 3]
    assert store.view_ids(SavedView(sort="score:clip-label"), limit=4) == [3, 7, 5, 1]
    assert store.view_ids(SavedView(SampleFilter(ids=(9, 8, 10)), sort="-id")) == [10, 9, 8]
    store.save_view("best first", SavedView(sort="-id"))  # replaced, same name
    assert store.view_ids(store.get_view("best first"), limit=2) == [30, 29]
    store.delete_view("best first")
    with pytest.raises(KeyError, match="no saved view"):
        store.get_view("best first")


@pytest.mark.parametrize(
    "data, match",
    [
        ({"filter": {"colour": "red"}}, "unknown filter fields"),
        ({"filter": {}, "sort": "size"}, "sort must be"),
        ({"filter": {}, "sort": "score:"}, "sort must be"),
    ],
)
def test_bad_views_are_refused(data, match):
    with pytest.raises(ValueError, match=match):
        SavedView.from_json(data)


def test_selection_actions_need_confirmation_above_the_limit(store):
    ids = list(range(1, CONFIRM_ABOVE + 2))
    with pytest.raises(ValueError, match="confirmation"):
        apply_to_selection(store, ids, "accept", "ann")
    assert store.curation_counts()["accepted"] == 0
    result = apply_to_selection(store, ids, "accept", "ann", reason="clean", confirmed=True)
    assert (result.selected, result.changed) == (len(ids), len(ids))
    assert store.decisions_for(1)[-1]["reason"] == "clean"
    small = apply_to_selection(store, [1, 2, 2], "tag", "ann", tags="good, sharp")
    assert small.changed == 4 and store.tags_of(2) == ["good", "sharp"]
    assert apply_to_selection(store, [2], "untag", "ann", tags="good").changed == 1
    with pytest.raises(ValueError, match="type a tag"):
        apply_to_selection(store, [1], "tag", "ann", tags=" , ")
    with pytest.raises(ValueError, match="empty"):
        apply_to_selection(store, [], "reject", "ann")
    with pytest.raises(ValueError, match="action must be"):
        apply_to_selection(store, [1], "delete", "ann")


def test_decisions_on_a_selection_skip_real_samples(tiny_project):
    real = tiny_project.sample_ids(SampleFilter(source="real"))[:3]
    result = apply_to_selection(tiny_project, real, "reject", "ann")
    assert (result.changed, result.skipped_real) == (0, 3)
    assert "3 real samples skipped" in result.message()
    assert all(tiny_project.decisions_for(i) == [] for i in real)
