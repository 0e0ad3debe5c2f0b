"""The Review screen's core reads: filters as saved views, grid pages, per-method evidence."""

from __future__ import annotations

import numpy as np
import pytest
from generated_samples import train_ids

from debias_core.analysis.review import (
    METHOD_PANELS,
    ReviewFilter,
    evidence_text,
    grid_page,
    load_review_view,
    review_ids,
    sample_evidence,
    save_review_view,
)
from debias_core.store import GeneratedImage, Recipe
from debias_core.store.verify import MaskRow


def _generated(store, method: str, n: int, parent=None, meta=None, **recipe) -> list[int]:
    pixels = np.asarray(store.sample_image(1))
    images = [
        GeneratedImage(
            pixels, 0, 1, Recipe(method, "tiny", "abc123", seed=k, **recipe), parent, meta or {}
        )
        for k in range(n)
    ]
    return store.add_generated_unit(None, None, images)


def test_filters_select_sort_and_round_trip_as_saved_views(tiny_project):
    store = tiny_project
    ids = _generated(store, "txt2img", 5)
    store.add_scores("judge", {ids[0]: 0.9, ids[1]: 0.1, ids[2]: 0.5})
    store.add_tags(ids[:2], ["blurry"], "ann")
    store.decide_as_policy([ids[3]], "needs-review", "rule")
    store.decide([ids[4]], "reject", "ann")

    assert review_ids(store, ReviewFilter()) == ids[:4]  # pending includes needs-review
    assert review_ids(store, ReviewFilter(status="needs-review")) == [ids[3]]
    assert review_ids(store, ReviewFilter(status=None, tag="blurry")) == ids[:2]
    assert review_ids(store, ReviewFilter(verdict="none", status=None)) == [
        ids[i] for i in (0, 1, 2, 4)
    ]
    by_score = ReviewFilter(scorer="judge", score_min=0.2, sort="-score:judge")
    assert review_ids(store, by_score) == [ids[0], ids[2]]
    assert review_ids(store, ReviewFilter(sort="score:judge")) == [ids[1], ids[2], ids[0], ids[3]]

    save_review_view(store, "  best   judge ", by_score)
    assert store.list_views() == ["best judge"]
    assert load_review_view(store, "best judge") == by_score
    for bad, message in (
        (ReviewFilter(score_min=0.1), "needs a scorer"),
        (ReviewFilter(scorer="judge", score_min=2.0, score_max=1.0), "above score max"),
        (ReviewFilter(status="maybe"), "status must be"),
        (ReviewFilter(verdict="perhaps"), "verdict must be"),
        (ReviewFilter(sort="name"), "sort must be"),
    ):
        with pytest.raises(ValueError, match=message):
            review_ids(store, bad)
    assert store.list_views() == ["best judge"]


def test_grid_pages_are_bounded_and_carry_status_and_tags(tiny_project):
    store = tiny_project
    ids = _generated(store, "txt2img", 7)
    store.decide([ids[5]], "accept", "ann")
    store.add_tags([ids[6]], ["odd", "keep"], "ann")
    page = grid_page(store, ids, 2, size=5)
    assert (page.page, page.pages, page.total) == (2, 2, 7)
    assert [t.id for t in page.tiles] == ids[5:]
    assert [(t.status, t.tags) for t in page.tiles] == [
        ("accepted", ()),
        ("pending", ("keep", "odd")),
    ]
    assert grid_page(store, ids, 99, size=5).page == 2  # clamped to the last page
    assert grid_page(store, [], 1).tiles == () and grid_page(store, [], 1).pages == 1
    with pytest.raises(ValueError, match="grid page holds"):
        grid_page(store, ids, 1, size=1000)


def test_evidence_follows_the_method_and_names_mask_verdicts_and_artifacts(tiny_project):
    store = tiny_project
    source, content = train_ids(store, 0, 0)[0], train_ids(store, 1, 1)[0]
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    store.record_masks([MaskRow(source, mask, "dataset", "digit", model_hash="f00d" * 4)])
    artifact = {"id": 7, "sha256": "beef" * 16, "kind": "token", "name": "<c-1>"}
    (dbb,) = _generated(store, "dbb", 1, parent=source, tokens={"artifacts": [artifact]})
    (inj,) = _generated(store, "diffinject", 1, parent=source, meta={"content_id": content})
    (plain,) = _generated(store, "txt2img", 1)
    store.add_scores("softmax-shift", {dbb: 0.25}, details={dbb: {"psi": 0.5, "Psi": 0.75}})
    store.add_scores("ig-in-mask", {dbb: 0.125}, details={dbb: {"total": 0.5}})
    store.decide_as_policy([dbb], "reject", "dbb", "rho below P")
    store.decide([dbb], "accept", "ann", "the digit changed")

    ev = sample_evidence(store, store.get_sample(dbb))
    assert ev.method == "dbb" and ev.panels == METHOD_PANELS["dbb"] and ev.source_id == source
    assert (ev.mask.of_sample, ev.mask.segmenter, ev.mask.prompt) == (source, "dataset", "digit")
    assert ev.softmax_shift == {"value": 0.25, "psi": 0.5, "Psi": 0.75}
    assert ev.ig_in_mask == {"value": 0.125, "total": 0.5}
    assert (ev.status, ev.person) == ("accepted", "accepted")  # the person outranks the policy
    assert ev.policies == ({"policy": "dbb", "decision": "reject", "reason": "rho below P"},)
    assert ev.artifacts == (artifact,) and ev.backbone == {"id": "tiny", "hash": "abc123"}
    text = evidence_text(ev)
    for part in ("`dbb`", "person: **accepted**", "policy `dbb`: **reject** (rho below P)",
                 "Softmax shift: 0.2500", "IG in mask: 0.1250", f"source #{source}",
                 "Artifact #7 token `<c-1>` (beefbeefbeef)", "f00df00df00d"):  # fmt: skip
        assert part in text, part

    injected = sample_evidence(store, store.get_sample(inj))
    assert injected.panels == METHOD_PANELS["diffinject"] and injected.content_id == content
    bare = sample_evidence(store, store.get_sample(plain))
    assert (bare.source_id, bare.content_id, bare.mask, bare.policies) == (None, None, None, ())
    assert bare.softmax_shift is None and "person: no decision" in evidence_text(bare)
