"""The ray executor: units drawn by Ray actors, saved by the driver alone, byte for byte as the
local executor draws them; a worker killed mid-unit is retried, a killed driver leaves a job
that resumes on either executor.

One local Ray cluster for the module (2 CPUs, no dashboard, loopback only), shut down after.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from debias_core.generate import GenerateConfig
from debias_core.jobs import ExecutorChoice, mark_interrupted
from debias_core.jobs.executor import RayMissing
from debias_core.jobs.foreground import run_generation, run_personalization
from debias_core.jobs.local import run_job
from debias_core.jobs.submit import submit_job
from debias_core.store import SampleFilter, Store

ROOT = Path(__file__).resolve().parent.parent
RAY = ExecutorChoice("ray")


def make_project(path: Path) -> Store:
    from conftest import TINY_DIGITS

    from debias_core.data.ingest import create_project

    return create_project(path, "colored-digits", options=dict(TINY_DIGITS))


def generate_params(backbone: str, per_group: int = 2, steps: int = 2) -> dict:
    return {
        "method": "txt2img",
        "backbone": backbone,
        "groups": [[0, 0], [1, 1]],
        "per_group": per_group,
        "batch_size": 1,
        "steps": steps,
        "seed": 3,
    }


def outputs(store: Store, job_id: int) -> list[tuple]:
    """(unit, image sha256, recipe without ids and timestamps) of a job's samples, in order."""
    keys = unit_keys(store, job_id)
    rows = []
    for sample in store.list_samples(SampleFilter(job_id=job_id)):
        image = hashlib.sha256(store.sample_path(sample).read_bytes()).hexdigest()
        recipe = store.get_recipe(sample.recipe_id)
        rows.append((keys[sample.id], sample.y, sample.a, image, recipe))
    return rows


def unit_keys(store: Store, job_id: int) -> dict[int, str]:
    rows = store.query("select id, unit_key from samples where job_id = ?", [job_id])
    return {r["id"]: r["unit_key"] for r in rows}


# -- Ray not installed: one line, nothing queued -------------------------------------------------
def test_choosing_ray_without_ray_names_the_package(tiny_project, monkeypatch, capsys):
    from debias_core.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(RayMissing, match=r"pip install ray==2\.60\.0"):
        RAY.check()
    code = main(["generate", str(tiny_project.root), "--executor", "ray", "--per-group", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [
        "error: the ray executor needs Ray, which is not installed: pip install ray==2.60.0 "
        "(or choose --executor local)"
    ]
    assert tiny_project.list_jobs() == []  # refused before any job row


def test_a_ray_address_needs_the_ray_executor():
    with pytest.raises(ValueError, match="needs the ray executor"):
        ExecutorChoice("local", "127.0.0.1:6379")
    with pytest.raises(ValueError, match="executor must be one of"):
        ExecutorChoice("dask")
    assert ExecutorChoice("ray", " 10.0.0.5:6379 ").label == "ray@10.0.0.5:6379"


def test_the_app_chooses_the_executor_once_for_every_tab(tiny_project, monkeypatch):
    """One choice above the tabs: new jobs and the jobs tables show it; Ray missing is one
    toast naming the package, and the choice stays as it was."""
    import gradio as gr

    from debias_core.jobs.local import LocalExecutor
    from debias_core.jobs.ray_executor import RayExecutor
    from ui import generate as gen
    from ui.jobs import choose_executor, poll
    from ui.state import make_context

    ctx = make_context(tiny_project.root, reviewer="tester", create=False)
    note = choose_executor(ctx, "ray", "")
    assert isinstance(ctx.executor, RayExecutor) and "**ray**" in note
    ctx.executor._enqueue = lambda job_id: None  # queue, never run
    params = {"method": "txt2img", "backbone": "embedded", "groups": [[0, 0]], "per_group": 1}
    gen.submit(ctx, params)
    _, table, _ = poll(ctx, "generate")
    assert table[0][:3] == [1, "generate", "queued"] and table[0][5] == "ray"
    choose_executor(ctx, "local", "")
    assert type(ctx.executor) is LocalExecutor
    assert ctx.shutdown() == [1]  # the ray executor's queued job too

    monkeypatch.setitem(sys.modules, "ray", None)
    from ui.common import friendly

    with pytest.raises(gr.Error, match=r"pip install ray==2\.60\.0"):
        friendly(choose_executor)(ctx, "ray", "10.0.0.5:6379")
    assert ctx.executor.label == "local"


# -- on a local Ray cluster -------------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_address():
    """A 2-CPU Ray cluster on loopback for this module; its GCS address."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # bind 127.0.0.1 only
    ray = pytest.importorskip("ray")
    from debias_core.jobs.ray_executor import REPO_ROOT

    info = ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        logging_level="ERROR",
        log_to_driver=False,
        job_config=ray.job_config.JobConfig(code_search_path=[str(REPO_ROOT)]),
    )
    address = info.address_info["address"]
    assert address.startswith("127.0.0.1:")
    yield address
    ray.shutdown()


@pytest.mark.slow
def test_generation_and_personalization_on_ray_match_local_byte_for_byte(
    ray_address, backbone_dir, tmp_path
):
    params = generate_params(backbone_dir)
    personalize = {
        "method": "textual-inversion",
        "backbone": backbone_dir,
        "classes": [0, 1],
        "steps": 2,
        "batch": 1,
        "seed": 5,
    }
    made = {}
    for name, executor in (("local", ExecutorChoice()), ("ray", RAY)):
        store = make_project(tmp_path / name)
        run = run_generation(store, GenerateConfig(**params), executor=executor)
        job_id = run_personalization(store, personalize, executor=executor)
        made[name] = (store, run.job_id, job_id)
    (local, gen_l, per_l), (ray_store, gen_r, per_r) = made["local"], made["ray"]
    assert ray_store.get_job(gen_r).executor == "ray"
    assert local.get_job(gen_l).executor == "local"
    expected = outputs(local, gen_l)
    assert len(expected) == 4
    assert outputs(ray_store, gen_r) == expected  # same pixels, same recipes, same order

    def learned(store, job_id):
        return [
            (a.concept, a.name, a.sha256, a.loss_curve) for a in store.list_artifacts(job_id=job_id)
        ]

    assert ray_store.get_job(per_r).executor == "ray"
    assert learned(ray_store, per_r) == learned(local, per_l)
    assert len(learned(local, per_l)) == 2


@pytest.mark.slow
def test_a_worker_killed_mid_unit_is_retried_without_duplicates(
    ray_address, backbone_dir, tiny_project, tmp_path
):
    from debias_core.jobs.ray_executor import FaultPlan, RayUnits

    marker = tmp_path / "worker-died"
    store = tiny_project
    job_id = submit_job(store, "generate", generate_params(backbone_dir)).job_id
    status = run_job(store, job_id, units=RayUnits(fault=FaultPlan(str(marker))))
    assert marker.exists()  # a worker did exit hard after drawing a unit
    assert status == "done", store.get_job(job_id).error
    keys = list(unit_keys(store, job_id).values())
    assert len(keys) == 4 and len(set(keys)) == 4  # each unit saved once


def start_driver(args: list[str]) -> subprocess.Popen:
    # One torch thread, as in this process (conftest): the recipes record the thread count.
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, "-m", "debias_core", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def kill_after_units(driver: subprocess.Popen, store: Store, at_least: int) -> int:
    """SIGKILL the driver once its generation job has saved `at_least` units; units then."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        jobs = store.list_jobs()
        if jobs and store.units_done(jobs[0].id) >= at_least:
            driver.send_signal(signal.SIGKILL)
            driver.wait(30)
            return store.units_done(jobs[0].id)
        if driver.poll() is not None:
            raise AssertionError(f"driver ended first: {driver.stderr.read().decode()[-2000:]}")
        time.sleep(0.05)
    driver.kill()
    raise AssertionError("no unit was saved in time")


@pytest.mark.slow
def test_a_killed_driver_leaves_an_interrupted_job_that_resumes_on_either_executor(
    ray_address, backbone_dir, tiny_project, tmp_path
):
    store = tiny_project
    params = generate_params(backbone_dir, per_group=3, steps=4)
    flags = ["--per-group", "3", "--batch-size", "1", "--steps", "4", "--seed", "3"]
    flags += ["--backbone", backbone_dir, "--executor", "ray", "--ray-address", ray_address]
    params["groups"] = []  # the CLI draws every group of the project (2 x 2), as here
    first = start_driver(["generate", str(store.root), *flags])
    saved = kill_after_units(first, store, 1)
    job = store.list_jobs()[0]
    assert mark_interrupted(store) == [job.id]
    assert store.get_job(job.id).status == "interrupted"
    assert store.get_job(job.id).executor == f"ray@{ray_address}"

    # resumed on Ray (the CLI), killed again once it saved more ...
    resume = ["jobs", str(store.root), "--resume", str(job.id), "--executor", "ray"]
    second = start_driver([*resume, "--ray-address", ray_address])
    kill_after_units(second, store, saved + 1)
    assert mark_interrupted(store) == [job.id]
    # ... then finished on the local executor: every unit once, as a local run draws them
    from debias_core.jobs import claim_for_resume

    claim_for_resume(store, job.id)
    assert run_job(store, job.id) == "done"
    assert store.get_job(job.id).executor == "local"
    reference = make_project(tmp_path / "reference")
    ref_job = submit_job(reference, "generate", params).job_id
    assert run_job(reference, ref_job) == "done"
    assert outputs(store, job.id) == outputs(reference, ref_job)
    assert len(outputs(store, job.id)) == 12
