"""Persisted jobs: progress, cancel, failure, interruption and resume without duplicates."""

from __future__ import annotations

import numpy as np
import pytest

from debias_core.jobs import JOB_KINDS, LocalExecutor, mark_interrupted, run_job
from debias_core.store import GeneratedImage, Recipe, SampleFilter, Store

CALLS: list[str] = []


@JOB_KINDS.register("test-units")
def _units_job(ctx, params):
    """Writes one image per unit; fails once at `fail_at` to simulate a crash mid-job."""
    ctx.set_units_total(params["units"])
    for k in range(params["units"]):
        key = f"unit-{k}"
        if ctx.unit_done(key):
            continue
        if k == params.get("fail_at") and not CALLS:
            CALLS.append("failed")
            raise RuntimeError("boom")
        image = np.full((4, 4, 3), k, np.uint8)
        recipe = Recipe(method="test", backbone_id="none", backbone_hash="", seed=k)
        ctx.store.add_generated_unit(ctx.job_id, key, [GeneratedImage(image, 0, 0, recipe)])
        ctx.progress((k + 1) / params["units"], f"unit {k}")
    return {"message": "all units written"}


@pytest.fixture
def store(tmp_path):
    CALLS.clear()
    return Store.create(tmp_path / "p", {})


def test_job_runs_to_done_with_progress_and_result(store):
    executor = LocalExecutor(store)
    job_id = executor.submit("test-units", {"units": 3})
    executor.wait(30)
    job = store.get_job(job_id)
    assert (job.status, job.progress, job.units_done) == ("done", 1.0, 3)
    assert job.result == {"message": "all units written"}


def test_failed_job_records_error_and_resumes_without_duplicates(store):
    executor = LocalExecutor(store)
    job_id = executor.submit("test-units", {"units": 4, "fail_at": 2})
    executor.wait(30)
    job = store.get_job(job_id)
    assert job.status == "failed" and "RuntimeError: boom" in job.error
    assert store.count_samples(SampleFilter(job_id=job_id)) == 2
    executor.resume(job_id)
    executor.wait(30)
    assert store.get_job(job_id).status == "done"
    assert store.count_samples(SampleFilter(job_id=job_id)) == 4


def test_cancel_stops_at_next_unit(store):
    job_id = store.create_job("test-units", {"units": 5})
    store.request_cancel(job_id)
    assert run_job(store, job_id) == "cancelled"
    assert store.count_samples(SampleFilter(job_id=job_id)) == 0


def test_jobs_of_a_dead_process_are_marked_interrupted(store):
    job_id = store.create_job("test-units", {"units": 2})
    store.update_job(job_id, status="running", pid=2**22 + 12345)  # no such process
    assert mark_interrupted(store) == [job_id]
    assert store.get_job(job_id).status == "interrupted"
    with pytest.raises(ValueError, match="unknown job kind"):
        LocalExecutor(store).submit("nope", {})


def test_the_last_progress_line_is_out_before_run_now_returns(tiny_project, backbone_dir):
    # The CLI's progress watcher polls every half second; it used to print "[100.0%] ..." after
    # the command had returned (into the next command's output, in one process).
    from debias_core.jobs.foreground import run_now

    calls: list[float] = []
    params = {"method": "txt2img", "backbone": backbone_dir, "per_group": 1, "steps": 2}
    params |= {"groups": [[0, 0]], "batch_size": 1}
    run_now(tiny_project, "generate", params, progress=lambda f, m: calls.append(f))
    assert calls and calls[-1] == 1.0
