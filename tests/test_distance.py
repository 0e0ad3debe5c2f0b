"""Fréchet distance: a case with a closed-form answer, and bad shapes."""

from __future__ import annotations

import feature_helpers  # noqa: F401  (registers the "test-colour" extractor)
import numpy as np
import pytest

from debias_core.analysis.distance import frechet_distance


def test_matches_closed_form_for_diagonal_gaussians():
    # Samples whose sample mean and (unbiased) covariance are exactly known.
    base = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])  # mean 0, cov 4/3 I
    a = base * [1.0, 2.0]  # cov diag(4/3, 16/3)
    b = base * [3.0, 1.0] + [2.0, 0.0]  # mean (2, 0), cov diag(12, 4/3)
    s_a, s_b = np.array([4 / 3, 16 / 3]), np.array([12.0, 4 / 3])
    expected = 4.0 + np.sum(s_a + s_b - 2 * np.sqrt(s_a * s_b))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_identical_sets_are_at_distance_zero():
    x = np.random.default_rng(0).normal(size=(50, 3))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize(
    "a, b", [(np.zeros((5, 2)), np.zeros((5, 3))), (np.zeros((1, 2)), np.zeros((4, 2)))]
)
def test_bad_shapes_are_refused(a, b):
    with pytest.raises(ValueError):
        frechet_distance(a, b)


# -- the report: overall, per group / job / method, with the real train-vs-test floor -----------
def _closed_form(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance written out with scipy's sqrtm (independent of torchmetrics)."""
    from scipy.linalg import sqrtm

    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = sqrtm(s_a @ s_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * root))


@pytest.fixture
def project_with_two_jobs(tiny_project):
    from debias_core.store import GeneratedImage, Recipe

    rng = np.random.default_rng(0)
    for job_kind, method, groups in (("a", "txt2img", [(0, 1), (1, 0)]), ("b", "ffr", [(0, 1)])):
        job_id = tiny_project.create_job("generate", {"label": job_kind})
        recipe = Recipe(method=method, backbone_id="test", backbone_hash="0", seed=0)
        images = [
            GeneratedImage(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), y, a, recipe)
            for y, a in groups
            for _ in range(8)
        ]
        tiny_project.add_generated_unit(job_id, f"unit-{job_kind}", images)
    return tiny_project


def _features(store, ids):
    from feature_helpers import mean_colour

    from debias_core.analysis.features import read_images

    return mean_colour(read_images(store, ids))


def test_report_rows_match_a_closed_form_on_the_same_subsets(project_with_two_jobs):
    from debias_core.analysis.distance_report import DistanceConfig, distance_report
    from debias_core.store import SampleFilter

    store = project_with_two_jobs
    report = distance_report(store, DistanceConfig(features="test-colour"))
    rows = {(r.scope, r.key): r for r in report.rows}
    assert [r.scope for r in report.rows].count("group") == 2
    assert set(rows) >= {("overall", "all generated"), ("job", "job 1"), ("method", "ffr")}

    # Group digit 0 / green = (0, 1): 16 generated (both jobs) vs real test of (0, 1).
    row = rows[("group", "digit 0 / green")]
    generated = store.sample_ids(SampleFilter(source="generated", y=0, a=1))
    test = store.sample_ids(SampleFilter(source="real", split="test", y=0, a=1))
    train = store.sample_ids(SampleFilter(source="real", split="train", y=0, a=1))
    assert (row.n_generated, row.n_reference, row.n_floor) == (16, len(test), len(train))
    expected = _closed_form(_features(store, generated), _features(store, test))
    floor = _closed_form(_features(store, train), _features(store, test))
    assert row.distance == pytest.approx(expected, rel=1e-4)
    assert row.floor == pytest.approx(floor, rel=1e-4)
    assert row.ratio == pytest.approx(row.distance / row.floor)

    # Method ffr = job 2: only group (0, 1), so its reference is that group's test samples.
    ffr = rows[("method", "ffr")]
    ffr_ids = store.sample_ids(SampleFilter(source="generated", method="ffr"))
    assert ffr.n_generated == 8 and ffr.n_reference == len(test)
    assert ffr.distance == pytest.approx(
        _closed_form(_features(store, ffr_ids), _features(store, test)), rel=1e-4
    )
    assert rows[("job", "job 2")].distance == pytest.approx(ffr.distance)

    # The overall floor draws as many real train samples (of the same groups) as there are
    # generated ones: 24, not every train sample of groups (0, 1) and (1, 0).
    overall = rows[("overall", "all generated")]
    in_groups = [store.sample_ids(SampleFilter(source="real", split="train", y=y, a=a))
                 for y, a in ((0, 1), (1, 0))]  # fmt: skip
    assert overall.n_generated == 24 and overall.n_floor == min(24, sum(map(len, in_groups)))


def test_report_leaves_small_sets_blank_and_filters_by_status(project_with_two_jobs):
    from debias_core.analysis.distance_report import (
        DistanceConfig,
        distance_report,
        format_distance_table,
    )
    from debias_core.store import SampleFilter

    store = project_with_two_jobs
    first = store.sample_ids(SampleFilter(source="generated"))[0]
    store.decide([first], "accept", "ann")
    report = distance_report(store, DistanceConfig(features="test-colour", status="accepted"))
    overall = report.rows[0]
    assert overall.n_generated == 1 and overall.distance is None and "fewer than 2" in overall.note
    assert report.to_dict()["rows"][0]["ratio"] is None
    assert "fewer than 2" in format_distance_table(report)
    with pytest.raises(ValueError, match="status must be"):
        distance_report(store, DistanceConfig(features="test-colour", status="maybe"))
    with pytest.raises(ValueError, match="must differ"):
        distance_report(store, DistanceConfig(features="test-colour", reference_split="train"))


def test_the_floor_matches_the_generated_set_in_size(project_with_two_jobs):
    from debias_core.analysis.distance_report import DistanceConfig, distance_report
    from debias_core.store import GeneratedImage, Recipe, SampleFilter

    store = project_with_two_jobs
    rng = np.random.default_rng(1)
    recipe = Recipe(method="txt2img", backbone_id="test", backbone_hash="0", seed=0)
    images = [GeneratedImage(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), 0, 0, recipe)]
    store.add_generated_unit(None, None, images * 4)  # the aligned group (0, 0)
    train = store.sample_ids(SampleFilter(source="real", split="train", y=0, a=0))
    assert len(train) > 4

    def row(**options):
        report = distance_report(store, DistanceConfig(features="test-colour", **options))
        return next(r for r in report.rows if r.key == "digit 0 / red")

    matched, full = row(), row(matched_floor=False)
    assert (matched.n_floor, full.n_floor) == (4, len(train))
    assert matched.floor != full.floor and row().floor == matched.floor  # seeded: repeatable
    assert row(seed=1).floor != matched.floor
