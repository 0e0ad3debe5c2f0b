"""Integrated Gradients cached per (sample, run), mask overlays and thumbnails."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from debias_core.analysis.attribution import (
    attribute,
    heatmap_overlay,
    mask_fraction,
    mask_overlay_path,
    overlay_mask,
    scorer_name,
    thumbnail_path,
)
from debias_core.store import SampleFilter
from debias_core.store.records import GeneratedImage, Recipe


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny project with one finished 1-epoch run (shared: training is the slow part)."""
    from conftest import TINY_DIGITS

    from debias_core.data.ingest import create_project
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    store = create_project(
        tmp_path_factory.mktemp("attr") / "proj", "colored-digits", options=dict(TINY_DIGITS)
    )
    run = run_training(store, TrainConfig(epochs=1, batch_size=64))
    return store, run.run_id


def test_overlay_mask_tints_inside_outlines_edge_and_keeps_outside():
    image = np.full((5, 5, 3), 100, np.uint8)
    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    out = overlay_mask(image, mask, color=(0, 200, 0), alpha=0.5)
    assert out.shape == (5, 5, 3) and out.dtype == np.uint8
    assert (out[0, 0] == 100).all()  # outside: untouched
    assert tuple(out[1, 1]) == (0, 200, 0)  # outline: solid colour
    assert tuple(out[2, 2]) == (50, 150, 50)  # interior: half-way tint


def test_overlay_mask_resizes_a_mask_of_another_size():
    mask = np.array([[True, False], [False, False]])  # the top-left quarter at 8 x 8
    out = overlay_mask(np.zeros((8, 8, 3), np.uint8), mask, color=(200, 200, 200))
    assert out[:4, :4].min() > 0 and out[4:].max() == 0 and out[:, 4:].max() == 0


def test_mask_fraction_is_the_share_of_mass_inside():
    heat = np.array([[1.0, 3.0], [0.0, 4.0]])
    mask = np.array([[True, False], [False, True]])
    assert mask_fraction(heat, mask) == pytest.approx(5 / 8)
    assert mask_fraction(np.zeros((2, 2)), mask) == 0.0


def test_heatmap_overlay_brightens_where_attribution_is_high():
    image = np.zeros((4, 4, 3), np.uint8)
    heat = np.zeros((4, 4))
    heat[0, 0] = 1.0
    out = heatmap_overlay(image, heat)
    assert out[0, 0].sum() > 400 and out[3, 3].sum() == 0


def test_thumbnail_upscales_small_images_and_is_made_once(tiny_project):
    sample = tiny_project.get_sample(1)
    path = thumbnail_path(tiny_project, sample, size=96)
    assert path.is_relative_to(tiny_project.root / "thumbs")
    with Image.open(path) as im:
        assert im.size == (96, 96)  # 32 px x 3, nearest neighbour
    stamp = path.stat().st_mtime_ns
    assert thumbnail_path(tiny_project, sample, size=96) == path
    assert path.stat().st_mtime_ns == stamp


def test_thumbnail_downscales_large_images(tiny_project):
    with Image.open(tiny_project.sample_path(tiny_project.get_sample(2))) as im:
        assert max(im.size) == 32
    path = thumbnail_path(tiny_project, tiny_project.get_sample(2), size=16)
    with Image.open(path) as im:
        assert im.size == (16, 16)


def _generated_without_mask(store) -> int:
    recipe = Recipe(method="txt2img", backbone_id="dummy", backbone_hash="0", seed=1)
    image = np.zeros((32, 32, 3), np.uint8)
    image[8:24, 12:20] = 255
    (sid,) = store.add_generated_unit(None, None, [GeneratedImage(image, 0, 1, recipe)])
    return sid


def test_mask_overlay_only_for_samples_with_a_mask(tiny_project):
    real = tiny_project.get_sample(1)
    assert tiny_project.masks_for(1)[0]["kind"] == "exact"
    path = mask_overlay_path(tiny_project, real)
    assert path is not None and path.is_relative_to(tiny_project.root / "thumbs")
    generated = tiny_project.get_sample(_generated_without_mask(tiny_project))
    assert mask_overlay_path(tiny_project, generated) is None


def test_attribution_is_stored_as_a_score_and_cached(trained):
    store, run_id = trained
    sample = store.list_samples(SampleFilter(source="real", split="test"), limit=1)[0]
    first = attribute(store, sample.id, run_id, n_steps=8)
    assert not first.cached and first.target == sample.y
    assert 0.0 <= first.mask_fraction <= 1.0 and 0.0 <= first.probability <= 1.0
    assert (store.root / first.overlay_path).is_file()
    score = store.scores_for(sample.id)[scorer_name(run_id)]
    assert score["value"] == pytest.approx(first.mask_fraction)
    assert score["details"]["overlay_path"] == first.overlay_path
    n_rows = store.query("select count(*) as n from scores")[0]["n"]
    again = attribute(store, sample.id, run_id, n_steps=8)
    assert again.cached and again.overlay_path == first.overlay_path
    assert store.query("select count(*) as n from scores")[0]["n"] == n_rows


def test_attribution_without_mask_has_no_fraction(trained):
    store, run_id = trained
    result = attribute(store, _generated_without_mask(store), run_id, n_steps=4)
    assert result.mask_fraction is None
    assert attribute(store, result.sample_id, run_id).cached


def test_attribution_rejects_unknown_sample_and_unfinished_run(trained):
    store, run_id = trained
    with pytest.raises(KeyError, match="no sample with id 999999"):
        attribute(store, 999999, run_id)
    pending = store.create_run("train", "erm", {})
    with pytest.raises(ValueError, match="finished run"):
        attribute(store, 1, pending)
