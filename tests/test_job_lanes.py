"""Resource lanes: training runs while images generate; a queued job says what it waits for."""

from __future__ import annotations

import time

import pytest

from debias_core.cli import main
from debias_core.generate import GENERATORS, runner
from debias_core.jobs import JOB_KINDS, LocalExecutor
from debias_core.jobs.lanes import lane_of, queue_places
from debias_core.models.dummy import dummy_backbone
from debias_core.store import SampleFilter

# Generous: the tiny training run takes seconds; on the old one-job-at-a-time executor the held
# generation waits this long for a training that never starts, then fails the test.
HOLD_TIMEOUT_S = 180


def test_every_job_kind_declares_its_lane_and_training_does_not_share_generations():
    lanes = {kind: lane_of(kind) for kind in JOB_KINDS if not kind.startswith("test-")}
    assert lanes["generate"] == lanes["personalize"] == "diffusion"
    assert lanes["train"] == "classifier" and lanes["embed"] == lanes["umap"] == "features"


def hold_generation_until_done(store, monkeypatch, job_ids: dict) -> list:
    """The first rendered unit waits until the training job's row says done."""
    backbone = dummy_backbone(seed=0)
    monkeypatch.setattr(runner, "cached_backbone", lambda spec, device="cpu", dtype="": backbone)
    generator = GENERATORS.get("txt2img")
    real_render = generator.render
    rendered = []

    def render(bb, unit, config, store_=None):
        if not rendered:
            deadline = time.monotonic() + HOLD_TIMEOUT_S
            while "train" not in job_ids or store.get_job(job_ids["train"]).status != "done":
                if time.monotonic() > deadline:
                    raise RuntimeError("training did not run while the generation waited")
                time.sleep(0.2)
        rendered.append(unit.key)
        return real_render(bb, unit, config, store_)

    monkeypatch.setattr(generator, "render", render)
    return rendered


@pytest.mark.slow
def test_training_runs_while_a_generation_holds_the_diffusion_lane(tiny_project, monkeypatch):
    store = tiny_project
    job_ids: dict = {}
    rendered = hold_generation_until_done(store, monkeypatch, job_ids)
    executor = LocalExecutor(store)
    params = {"per_group": 2, "batch_size": 1, "steps": 1}
    job_ids["generate"] = executor.submit("generate", params)
    job_ids["train"] = executor.submit("train", {"epochs": 1, "batch_size": 64})
    executor.wait(HOLD_TIMEOUT_S + 120)

    generate, train = (store.get_job(job_ids[k]) for k in ("generate", "train"))
    assert (generate.status, train.status) == ("done", "done"), (generate.error, train.error)
    assert store.get_run(train.result["run_id"]).status == "done"
    rows = store.query(
        "select s.y, s.a, r.seed, count(*) as n from samples s join recipes r"
        " on r.id = s.recipe_id where s.job_id = ? group by s.y, s.a, r.seed",
        [generate.id],
    )
    assert len(rows) == 4 * 2 and {r["n"] for r in rows} == {1}, rows  # none lost, none twice
    assert store.count_samples(SampleFilter(source="generated")) == len(rendered) == 8


def test_a_queued_job_names_its_place_and_what_it_waits_for(tiny_project, capsys):
    store = tiny_project
    owner = '{"host": "h", "pid": 1, "start": 1.0}'
    running = store.create_job("generate", {"per_group": 1}, owner=owner)
    store.update_job(running, status="running", progress=0.4)
    first = store.create_job("personalize", {"a": 1}, owner=owner)
    second = store.create_job("verify", {"b": 2}, owner=owner)
    train = store.create_job("train", {"epochs": 1}, owner=owner)

    places = queue_places(store)
    assert places[first].describe() == (
        f"#1 in the diffusion queue; waits for job {running} (generate, 40%)"
    )
    assert places[second].describe() == (
        f"#2 in the diffusion queue; waits for job {running} (generate, 40%) "
        "and 1 queued job before it"
    )
    assert places[train].describe() == "#1 in the classifier queue; starts next"
    assert running not in places

    # `jobs DIR` shows the same (the owner "h" is another host, so nothing is marked lost)
    assert main(["jobs", str(store.root), "--limit", "10"]) == 0
    table = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert f"waits for job {running} (generate, 40%)" in table[str(first)]
    assert main(["jobs", str(store.root), "--json"]) == 0
    out = capsys.readouterr().out
    assert '"queue_position": 2' in out and '"lane": "classifier"' in out

    # ... and so does the tab's jobs panel: the progress line and the table's message column
    from ui.jobs import poll
    from ui.state import AppContext

    progress, table, _ = poll(AppContext(store, LocalExecutor(store)), "verify")
    assert "#2 in the diffusion queue" in progress
    assert table[0][-1].startswith("#2 in the diffusion queue; waits for job")
