"""Job ownership (PID + start time), equivalent jobs, size limits, lazy plans, cancel while
skipping: the guarantees that keep a re-run from duplicating work."""

from __future__ import annotations

import os
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from debias_core.generate import GENERATORS, GenerateConfig, runner
from debias_core.generate.base import GroupBatches
from debias_core.jobs import (
    JOB_KINDS,
    JobBusy,
    JobCancelled,
    JobContext,
    LocalExecutor,
    mark_interrupted,
    run_job,
    submit_job,
)
from debias_core.limits import LIMITS_ENV, JobLimits
from debias_core.models.dummy import dummy_backbone
from debias_core.process import ProcessId, start_time
from debias_core.store import GeneratedImage, Recipe, SampleFilter, Store

META = {"class_names": ["zero", "one"], "attr_names": ["red", "green"]}
META_STORE = SimpleNamespace(meta=lambda: META)  # prompt-based plans read only metadata


@JOB_KINDS.register("test-once")
def _once_job(ctx, params):
    """One unit per params['units']; writes a 4x4 image per unit."""
    ctx.set_units_total(params["units"])
    for k in range(params["units"]):
        if not ctx.unit_done(f"u{k}"):
            recipe = Recipe(method="test", backbone_id="none", backbone_hash="", seed=k)
            image = GeneratedImage(np.full((4, 4, 3), k, np.uint8), 0, 0, recipe)
            ctx.store.add_generated_unit(ctx.job_id, f"u{k}", [image])
    return {"message": "ok"}


_once_job.idempotent = True


@pytest.fixture
def store(tmp_path):
    return Store.create(tmp_path / "p", META)


def me() -> ProcessId:
    return ProcessId.current()


# -- who owns a job ----------------------------------------------------------------------------
def test_this_process_has_a_start_time_and_is_alive():
    owner = me()
    assert owner.pid == os.getpid() and owner.started == start_time(os.getpid())
    assert owner.started is not None and owner.state() == "alive"
    assert ProcessId.from_text(owner.to_text()) == owner
    assert ProcessId.from_text("not json") is None and ProcessId.from_text(None) is None


def test_a_reused_pid_is_not_mistaken_for_the_owner(store):
    """Same PID as a live process (this one) but another start time: the owner is gone."""
    reused = ProcessId(me().host, os.getpid(), "0:12345")
    alive = store.create_job("test-once", {"units": 1}, owner=me().to_text())
    dead = store.create_job("test-once", {"units": 2}, owner=reused.to_text())
    elsewhere = ProcessId("another-host", os.getpid(), "0:1")
    remote = store.create_job("test-once", {"units": 3}, owner=elsewhere.to_text())
    for job_id in (alive, dead, remote):
        store.update_job(job_id, status="running")
    assert reused.state() == "gone" and elsewhere.state() == "unknown"
    assert mark_interrupted(store) == [dead]
    statuses = [store.get_job(j).status for j in (alive, dead, remote)]
    assert statuses == ["running", "interrupted", "running"]


def test_interrupting_is_skipped_when_another_owner_claimed_the_job(store):
    job_id = store.create_job("test-once", {"units": 1}, owner="old")
    store.update_job(job_id, status="interrupted")
    assert store.claim_job(job_id, "new", 1, ("interrupted",))
    assert not store.claim_job(job_id, "newer", 2, ("interrupted",))  # already claimed
    assert not store.interrupt_job(job_id, "old", "stale view")
    assert store.get_job(job_id).owner == "new"


# -- equivalent jobs ---------------------------------------------------------------------------
def test_equivalent_job_is_resumed_refused_or_reported_never_duplicated(store):
    first = submit_job(store, "test-once", {"units": 2})
    assert first.action == "created"
    with pytest.raises(JobBusy, match=rf"queued in process {os.getpid()}.*--cancel {first.job_id}"):
        submit_job(store, "test-once", {"units": 2})
    other = submit_job(store, "test-once", {"units": 3})  # different params: a new job
    assert other.action == "created" and other.job_id != first.job_id
    # The first job's process "dies" mid-job: the same request resumes it.
    dead = ProcessId(me().host, os.getpid(), "0:1")  # this PID, another start time: gone
    store.update_job(first.job_id, status="running", owner=dead.to_text())
    again = submit_job(store, "test-once", {"units": 2})
    assert (again.action, again.job_id) == ("resumed", first.job_id)
    assert run_job(store, first.job_id) == "done"
    done = submit_job(store, "test-once", {"units": 2})
    assert (done.action, done.job_id, done.runnable) == ("finished", first.job_id, False)
    assert "already finished" in done.describe()
    assert store.count_samples(SampleFilter(job_id=first.job_id)) == 2
    assert len(store.list_jobs()) == 2


def test_training_is_not_idempotent_so_a_finished_twin_does_not_block_it(store):
    params = {"method": "erm", "epochs": 1}
    job = submit_job(store, "train", params).job
    assert job.params["arch"] == "spatial-cnn"  # canonical: defaults filled in
    store.update_job(job.id, status="done")
    assert submit_job(store, "train", params).action == "created"
    with pytest.raises(ValueError, match="unknown classifier 'nope'"):
        submit_job(store, "train", {"arch": "nope"})


def test_generate_params_are_canonical_so_spelling_does_not_split_twins(tiny_project):
    a = submit_job(tiny_project, "generate", {"per_group": 2, "groups": [[0, 1]]})
    with pytest.raises(JobBusy):  # tuples, defaults and dtype spelled out: still the same job
        submit_job(
            tiny_project,
            "generate",
            {"per_group": 2, "groups": ((0, 1),), "dtype": "float32", "method": "txt2img"},
        )
    assert a.job.params["seed"] == 0 and a.job.params["dtype"] == "float32"


# -- size limits -------------------------------------------------------------------------------
def test_a_billion_images_is_refused_before_queueing_with_the_limit_named(tiny_project):
    with pytest.raises(ValueError, match=r"per_group 1000000000 is over the limit of "):
        submit_job(tiny_project, "generate", {"per_group": 10**9})
    with pytest.raises(ValueError, match=r"LIMITS=steps=N \(or generate.s --max-steps\)"):
        submit_job(tiny_project, "generate", {"steps": 5000})
    assert tiny_project.list_jobs() == []
    raised = JobLimits().with_overrides(per_group=10**9)
    assert submit_job(tiny_project, "generate", {"per_group": 10**9}, raised).action == "created"


def test_limits_from_the_environment(monkeypatch):
    assert JobLimits.from_env({LIMITS_ENV: "per_group=7, steps=9"}) == JobLimits(
        per_group=7, steps=9
    )
    for bad in ("per_group", "nope=3", "steps=-1", "steps=x"):
        with pytest.raises(ValueError, match=LIMITS_ENV):
            JobLimits.from_env({LIMITS_ENV: bad})
    with pytest.raises(ValueError, match="positive integer"):
        JobLimits(groups=0)


# -- lazy plans, cancel while planning / skipping ----------------------------------------------
def test_a_plan_is_lazy_and_equals_the_listed_units():
    config = GenerateConfig(per_group=10**9, batch_size=3)
    plan = GENERATORS.get("txt2img").plan(META_STORE, config, [(0, 0), (1, 1)])
    assert isinstance(plan, GroupBatches)
    assert len(plan) == 2 * -(-(10**9) // 3)  # arithmetic, nothing materialised
    last = plan[-1]
    assert (last.y, last.a, last.key) == (1, 1, f"txt2img-y1-a1-{(10**9 - 1) // 3 * 3}")
    assert len(last.seeds) == 1  # 10^9 = 3 * 333333333 + 1
    small = GENERATORS.get("txt2img").plan(
        META_STORE, GenerateConfig(per_group=5, batch_size=2), [(0, 1)]
    )
    assert (
        [u.key for u in small]
        == [u.key for u in small[:]]
        == [
            "txt2img-y0-a1-0",
            "txt2img-y0-a1-2",
            "txt2img-y0-a1-4",
        ]
    )
    with pytest.raises(IndexError):
        small[3]


class _Everything:
    def __contains__(self, item) -> bool:
        return True


def test_cancel_is_seen_while_finished_units_are_skipped(store, monkeypatch):
    """A resumed job skipping (here) a billion finished units still stops at a cancel."""
    job_id = store.create_job("test-once", {"units": 1})
    monkeypatch.setattr(store, "done_unit_keys", lambda job_id: _Everything())
    ctx = JobContext(store, job_id)
    skipped = []

    def units():
        for k in range(10**9):
            skipped.append(k)
            yield f"u{k}"

    threading.Timer(0.3, store.request_cancel, [job_id]).start()
    with pytest.raises(JobCancelled):
        for _ in ctx.pending(units(), key=str):
            pass
    assert 0 < len(skipped) < 10**9


def test_a_billion_image_job_renders_at_once_and_cancels(tiny_project, monkeypatch):
    backbone = dummy_backbone(seed=0)
    monkeypatch.setattr(runner, "cached_backbone", lambda spec, device="cpu", dtype="": backbone)
    rendered = []
    generator = GENERATORS.get("txt2img")
    real_render = generator.render

    def render(bb, unit, config, store=None):
        rendered.append(unit.key)
        if len(rendered) == 2:
            tiny_project.request_cancel(job_id)
        return real_render(bb, unit, config, store)

    monkeypatch.setattr(generator, "render", render)
    executor = LocalExecutor(tiny_project, limits=JobLimits(per_group=10**9))
    params = {"per_group": 10**9, "batch_size": 1, "steps": 1, "groups": [[0, 1]]}
    job_id = executor.submit("generate", params)
    executor.wait(120)
    job = tiny_project.get_job(job_id)
    assert (job.status, job.units_total) == ("cancelled", 10**9)
    assert tiny_project.count_samples(SampleFilter(job_id=job_id)) == len(rendered) <= 3
