"""Feature registry, the embedding cache (incremental, persisted as a job), projections, UMAP."""

from __future__ import annotations

import numpy as np
import pytest
from feature_helpers import EMBED_CALLS

from debias_core.analysis.embeddings import (
    EmbedConfig,
    ProjectionConfig,
    cached_features,
    embed_missing,
    project,
)
from debias_core.analysis.features import FEATURES, get_extractor, sample_features
from debias_core.jobs import JOB_KINDS, LocalExecutor, run_job
from debias_core.models.checkpoints import CheckpointMissing
from debias_core.store import GeneratedImage, Recipe


@pytest.fixture(autouse=True)
def _clear_calls():
    EMBED_CALLS.clear()


def add_generated(store, n: int, value: int = 50, job_id=None) -> list[int]:
    recipe = Recipe(method="txt2img", backbone_id="test", backbone_hash="0", seed=0)
    images = [
        GeneratedImage(np.full((32, 32, 3), value + k, np.uint8), y=0, a=1, recipe=recipe)
        for k in range(n)
    ]
    return store.add_generated_unit(job_id, None, images)


def test_registry_lists_the_extractors_and_parses_clip_specs(tiny_project):
    assert {"clip", "run"} <= set(FEATURES.names())
    assert get_extractor(tiny_project, "clip").spec == "clip"
    assert get_extractor(tiny_project, "clip:embedded").spec == "clip"
    with pytest.raises(CheckpointMissing, match="openai/clip-vit-base-patch32"):
        get_extractor(tiny_project, "clip:vit-b-32")


def test_only_new_samples_are_embedded_and_vectors_match(tiny_project):
    n = tiny_project.count_samples()
    first = embed_missing(tiny_project, EmbedConfig("test-colour", batch_size=100))
    assert (first.new, first.total) == (n, n) and [100, 100, n - 200] == EMBED_CALLS
    new_ids = add_generated(tiny_project, 3)
    again = embed_missing(tiny_project, EmbedConfig("test-colour", batch_size=100))
    assert (again.new, again.total) == (3, n + 3) and EMBED_CALLS[-1] == 3
    ids = [new_ids[1], 5, 1]
    cached = cached_features(tiny_project, "test-colour", ids)
    np.testing.assert_allclose(cached, sample_features(tiny_project, "test-colour", ids), rtol=1e-6)
    assert len(EMBED_CALLS) == 5  # the cached read computed nothing new (the last is the check)


def test_embed_job_reports_progress_and_resumes_after_cancel(tiny_project):
    n = tiny_project.count_samples()
    params = {"features": "test-colour", "batch_size": 64}
    job_id = tiny_project.create_job("embed", params)
    tiny_project.cancel_after, tiny_project.running_job = 2, job_id
    assert run_job(tiny_project, job_id) == "cancelled"
    assert len(tiny_project.embedded_ids("test-colour", "colour-v1")) == 128  # 2 units kept
    tiny_project.cancel_after = None
    LocalExecutor(tiny_project).resume(job_id)
    for _ in range(300):
        if tiny_project.get_job(job_id).finished:
            break
        __import__("time").sleep(0.1)
    job = tiny_project.get_job(job_id)
    assert job.status == "done" and job.result["new"] == n - 128 and job.result["total"] == n
    assert job.units_done == job.units_total == 2 + -(-(n - 128) // 64) and job.progress == 1.0
    assert sum(EMBED_CALLS) == n  # nothing embedded twice


def test_embed_job_refuses_bad_parameters_before_queuing(tiny_project):
    validate = JOB_KINDS.get("embed").validate
    for params, match in (
        ({"features": "nope"}, "unknown feature extractor"),
        ({"features": "test-colour", "batch_size": 0}, "batch_size"),
        ({"features": "test-colour", "colour": 1}, "bad embedding parameters"),
        ({"features": "run:77"}, "no run with id 77"),
    ):
        with pytest.raises((ValueError, KeyError), match=match):
            validate(tiny_project, params)
    assert tiny_project.list_jobs() == []


def test_pca_is_stored_and_reused_until_the_set_changes(tiny_project):
    config = ProjectionConfig("test-colour", "pca")
    first = project(tiny_project, config)
    assert not first.reused and first.projection.xy.shape == (tiny_project.count_samples(), 2)
    assert project(tiny_project, config).reused
    add_generated(tiny_project, 2)
    partial = project(tiny_project, config, embed=False)  # the new ones are not embedded yet
    assert partial.reused and partial.not_embedded == 2
    changed = project(tiny_project, config)
    assert not changed.reused and len(changed.projection.ids) == len(first.projection.ids) + 2
    latest = tiny_project.latest_projection("test-colour", "pca")
    assert latest.id == changed.projection.id
    np.testing.assert_array_equal(latest.ids, np.sort(latest.ids))
    with pytest.raises(ValueError, match="unknown pca parameters"):
        project(tiny_project, ProjectionConfig("test-colour", "pca", params={"k": 3}))


@pytest.mark.slow
def test_umap_job_stores_coordinates_then_reuses_them(tiny_project):
    executor = LocalExecutor(tiny_project)
    params = {"features": "test-colour", "seed": 0, "params": {"n_neighbors": 5}}
    first = executor.submit("umap", params)
    executor.wait(300)
    job = tiny_project.get_job(first)
    assert job.status == "done", job.error
    stored = tiny_project.get_projection(job.result["projection_id"])
    assert stored.method == "umap" and stored.params == {
        "n_neighbors": 5,
        "min_dist": 0.1,
        "metric": "cosine",
        "seed": 0,
    }
    assert stored.xy.shape == (tiny_project.count_samples(), 2) and np.isfinite(stored.xy).all()
    assert job.progress == 1.0 and "UMAP of" in job.message
    second = executor.submit("umap", params)
    executor.wait(300)
    result = tiny_project.get_job(second).result
    assert result["reused"] is True and result["projection_id"] == stored.id
    with pytest.raises(ValueError, match="without 'method'"):
        executor.submit("umap", {**params, "method": "pca"})
    with pytest.raises(ValueError, match="n_neighbors"):
        executor.submit("umap", {"features": "test-colour", "params": {"n_neighbors": 1}})
