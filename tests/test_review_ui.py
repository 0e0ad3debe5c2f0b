"""Review's views without a server: panels with nothing to show collapse, evidence per method."""

from __future__ import annotations

import numpy as np
import pytest
from generated_samples import train_ids

from debias_core.store import GeneratedImage, Recipe
from debias_core.store.verify import MaskRow


def _context(store):
    from ui.state import AppContext

    return AppContext(store, executor=None, reviewer="ann")


def _one(store, method: str, parent=None, meta=None) -> int:
    recipe = Recipe(method, "tiny", "abc", seed=0)
    image = GeneratedImage(np.asarray(store.sample_image(1)), 0, 1, recipe, parent, meta or {})
    return store.add_generated_unit(None, None, [image])[0]


def test_panels_follow_the_method_and_collapse_when_empty(tiny_project):
    from ui import review_queue, review_view

    store, ctx = tiny_project, _context(tiny_project)
    source, content = train_ids(store, 0, 0)[0], train_ids(store, 1, 1)[0]
    plain = _one(store, "txt2img")
    view = review_view.sample_outputs(ctx, store.get_sample(plain), review_view.Queue(), "")
    assert set(view.panels) == {"source", "generated"}  # no mask, no IG run: both hidden
    assert "choose an IG run, then press i" in view.evidence
    updates = review_queue.to_updates(view)
    images = dict(zip(review_queue.IMAGE_LABELS, updates[2:7], strict=True))
    assert [name for name, u in images.items() if u.visible] == ["source", "generated"]
    assert images["mask"].visible is False and images["ig"].visible is False

    mask = np.zeros((32, 32), bool)
    mask[4:20, 4:20] = True
    store.record_masks([MaskRow(source, mask, "dataset", "digit")])
    edited = _one(store, "diffinject", parent=source, meta={"content_id": content})
    view = review_view.sample_outputs(ctx, store.get_sample(edited), review_view.Queue(), "")
    assert list(view.panels) == ["source", "content", "generated"]  # DiffInject has no mask panel
    assert view.panels["content"].label == f"Content (bias-conflicting) #{content}"
    dbb = _one(store, "dbb", parent=source)
    view = review_view.sample_outputs(ctx, store.get_sample(dbb), review_view.Queue(), "")
    assert list(view.panels) == ["source", "mask", "generated"]
    assert view.panels["mask"].label == f"Mask (dataset) on source #{source}"
    assert view.panels["source"].label == f"Source image #{source}"

    empty = review_queue.to_updates(review_view.empty_outputs(ctx, "The queue is empty."))
    assert not any(u.visible for u in empty[2:7])


def test_agreement_rows_match_the_core_report(tiny_project):
    from debias_core.verify.agreement import policy_agreement
    from ui import review_tools

    store, ctx = tiny_project, _context(tiny_project)
    rows, note = review_tools.agreement_rows(ctx)
    assert rows == [] and "No policy" in note
    ids = [_one(store, "txt2img") for _ in range(4)]
    store.decide(ids[:2], "accept", "ann")
    store.decide(ids[2:], "reject", "ann")
    store.decide_as_policy(ids[:3], "accept", "rule")
    store.decide_as_policy(ids[3:], "needs-review", "rule")
    rows, _ = review_tools.agreement_rows(ctx)
    report = policy_agreement(store, "rule")
    assert [r[2:5] for r in rows] == report.confusion == [[2, 0, 0], [1, 0, 1]]
    assert rows[0][:2] == ["rule", "accept"] and rows[0][-1] == 4
    assert rows[0][5] == 0.0  # p_o = 2/3 = p_e (the policy always accepts): kappa 0
    assert rows[0][6] == f"{2 / 3:.1%}"


@pytest.mark.slow  # trains a one-epoch classifier
def test_ig_from_the_source_is_computed_on_demand_and_zero_for_an_unchanged_image(tiny_project):
    import torch
    from PIL import Image

    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training
    from ui import review_view

    store, ctx = tiny_project, _context(tiny_project)
    torch.manual_seed(0)
    run = run_training(store, TrainConfig(epochs=1, batch_size=32, seed=0)).run_id
    source, other = train_ids(store, 0, 0)[0], train_ids(store, 1, 1)[0]
    recipe = Recipe("dbb", "tiny", "abc", seed=0)
    same, changed = store.add_generated_unit(None, None, [
        GeneratedImage(np.asarray(store.sample_image(source)), 1, 0, recipe, source),
        GeneratedImage(np.asarray(store.sample_image(other)), 1, 0, recipe, source),
    ])  # fmt: skip
    path, caption = review_view.attribution_view(ctx, changed, str(run), compute=False)
    assert path is None and "press Attribution" in caption
    maps = {}
    for sid in (same, changed):
        path, caption = review_view.attribution_view(ctx, sid, str(run), compute=True)
        assert caption.startswith(f"IG from source #{source}, run #{run}")
        maps[sid] = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert review_view.attribution_view(ctx, changed, str(run), compute=False)[0] == path  # cached
    # The source is the baseline: an unchanged image has no attribution, only the dimmed grey.
    grey = maps[same][..., 0]
    assert (maps[same] == grey[..., None]).all()
    assert (np.abs(maps[changed] - maps[changed][..., :1]) > 30).any()  # coloured heat
