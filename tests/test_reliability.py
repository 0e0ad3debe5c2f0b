"""Reliability of the launched app: concurrent reviewers, a crash mid-job, bad requests.

- Two clients deciding at the same time on the same queue lose no decision.
- The app process killed with SIGKILL during a generation job, then restarted on the same
  project: the job shows as interrupted, resumes through the client, finishes with no duplicate
  samples, and the decisions made before the kill are all still there.
- Bad requests get a clear message and change nothing. test_app_client.py already covers an
  unknown sample id (show / accept / attribution), a path outside the project (a group value
  '../../etc', and /gradio_api/file= for the database, runs, '..' paths and /etc/passwd) and an
  oversized upload (413); here: the same refusals by the real server process, and a backbone
  path outside the project that is not a model folder.
"""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np
import pytest
from live_app import AppProcess, free_port, make_tiny_project, save_dummy_backbone

from debias_core.store import GeneratedImage, Recipe, SampleFilter, Store

gradio_client = pytest.importorskip("gradio_client")
AppError = gradio_client.exceptions.AppError
GROUPS = ["0,0", "0,1", "1,0", "1,1"]
STATUS = {"accept": "accepted", "reject": "rejected"}
# Review filters: method, group, job, status, tag, verdict, scorer, score min / max, sort; IG run.
PENDING = ("any", "any", "any", "pending", "any", "any", "", "", "", "id", "any", "")
PER_GROUP = 4  # x 4 groups, one image a unit: 16 units
STEPS = 100  # ~0.4 s a unit on the dummy backbone: time to decide and kill mid-job


def client(url: str):
    return gradio_client.Client(url, verbose=False, download_files=False)


def fake_images(n: int, seed: int = 0) -> list[GeneratedImage]:
    """Generated-looking samples without a model: random 16x16 pixels and a plain recipe."""
    rng = np.random.default_rng(seed)
    recipe = Recipe(method="txt2img", backbone_id="dummy", backbone_hash="0", seed=seed)
    pixels = rng.integers(0, 256, size=(n, 16, 16, 3), dtype=np.uint8)
    return [GeneratedImage(pixels[k], y=k % 2, a=(k // 2) % 2, recipe=recipe) for k in range(n)]


def n_rows(store: Store, table: str) -> int:
    return store.query(f"select count(*) as n from {table}")[0]["n"]


# -- (a) two reviewers at once -----------------------------------------------------------------
@pytest.fixture(scope="module")
def inprocess_app(tmp_path_factory):
    import app as studio
    from ui.launch import launch_options, start_server
    from ui.state import make_context

    store = make_tiny_project(tmp_path_factory.mktemp("concurrent") / "proj")
    store.add_generated_unit(None, None, fake_images(30))
    ctx = make_context(store.root, reviewer="tester", create=False)
    demo = studio.build_app(ctx)
    start_server(demo, **launch_options(ctx, port=free_port()))
    try:
        yield ctx, demo.local_url.rstrip("/")
    finally:
        demo.close()


def test_the_app_waits_for_its_own_slow_server_and_never_asks_to_share(monkeypatch):
    """Under load the first request to the app's own server timed out, and Gradio's one-try
    check then refused to start ("When localhost is not accessible, a shareable link must be
    created"). Here the first three requests time out: the app waits and starts, unshared."""
    import gradio as gr

    from ui.launch import start_server

    real_head, timeouts = httpx.head, []

    def slow_head(url, **kwargs):
        if len(timeouts) < 3:
            timeouts.append(url)
            raise httpx.ReadTimeout("timed out (simulated load)")
        return real_head(url, **kwargs)

    monkeypatch.setattr(httpx, "head", slow_head)
    monkeypatch.setenv("GRADIO_SHARE", "true")  # even when the environment asks for sharing
    with gr.Blocks() as demo:
        gr.Markdown("hello")
    start_server(demo, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    try:
        assert len(timeouts) == 3 and demo.share is False and demo.share_url is None
        assert httpx.get(demo.local_url, timeout=60).status_code == 200
    finally:
        demo.close()


def test_two_clients_deciding_on_the_same_queue_lose_no_decision(inprocess_app):
    ctx, url = inprocess_app
    made: dict[str, list[int]] = {"accept": [], "reject": []}
    errors: list[BaseException] = []
    start = threading.Barrier(2, timeout=60)

    def reviewer(decision: str) -> None:
        try:
            c = client(url)
            sid = c.predict(*PENDING, api_name="/review_filter")[0]
            start.wait()  # both hold the same 30-sample queue, then go through it together
            for _ in range(30):
                made[decision].append(sid)
                sid = c.predict(sid, "", "", api_name=f"/review_{decision}")[0]
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [
        threading.Thread(target=reviewer, args=(d,), daemon=True) for d in ("accept", "reject")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads), "a reviewer is still deciding after 90 s"
    store = ctx.store
    ids = [s.id for s in store.list_samples(SampleFilter(source="generated"))]
    assert sorted(made["accept"]) == sorted(made["reject"]) == ids  # each walked the whole queue
    assert n_rows(store, "decisions") == 60
    for sid in ids:
        history = store.decisions_for(sid)
        assert sorted(d["decision"] for d in history) == ["accept", "reject"]
        last = history[-1]  # the status is the later of the two decisions, whichever won
        assert store.status_of(sid) == STATUS[last["decision"]]
        row = store.query("select decision_id from curation where sample_id = ?", [sid])[0]
        assert row["decision_id"] == last["id"]
    counts = store.curation_counts()
    assert counts["pending"] == 0 and counts["accepted"] + counts["rejected"] == 30


# -- (b) SIGKILL during a generation job, then restart and resume ------------------------------
def wait_for(predicate, timeout: float, what: str, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def job_row(c, job_id: int) -> list:
    _, table, _ = c.predict(api_name="/generate_jobs_refresh")
    return next(row for row in table["data"] if row[0] == job_id)


def test_kill_mid_generation_then_restart_resumes_without_duplicates(tmp_path):
    store = make_tiny_project(tmp_path / "proj")
    backbone = str(save_dummy_backbone(tmp_path / "backbone"))
    app = AppProcess(store.root, tmp_path / "app.log").start()
    try:
        c = client(app.url)
        refuse_bad_requests(c, app.url, store)
        args = ("txt2img", backbone, GROUPS, PER_GROUP, 0, STEPS, 2.0, 1)
        note = c.predict(*args, api_name="/generate_submit")[0]
        assert "Queued generation job" in note, note
        job_id = store.list_jobs()[0].id
        job_samples = SampleFilter(job_id=job_id)
        wait_for(lambda: store.count_samples(job_samples) >= 2, 60, "two finished units")
        first, second = (s.id for s in store.list_samples(job_samples, limit=2))
        c.predict(first, "", "", api_name="/review_accept")
        c.predict(second, "", "", api_name="/review_reject")
        units_before_kill = store.units_done(job_id)
        app.kill()
    finally:
        app.stop()
    total = PER_GROUP * len(GROUPS)
    assert units_before_kill < total, "the job finished before the kill: raise STEPS"
    decisions = store.query("select * from decisions order by id")
    assert [(d["sample_id"], d["decision"]) for d in decisions] == [
        (first, "accept"),
        (second, "reject"),
    ]
    assert store.get_job(job_id).status == "running"  # what the dead process left behind

    app = AppProcess(store.root, tmp_path / "app.log").start()
    try:
        c = client(app.url)
        assert job_row(c, job_id)[2] == "interrupted"
        note = c.predict(str(job_id), api_name="/generate_job_resume")[0]
        assert "queued again" in note
        wait_for(lambda: job_row(c, job_id)[2] == "done", 90, "the resumed job", step=0.3)
    finally:
        app.stop()
    per_unit = store.query(
        "select unit_key, count(*) as n from samples where job_id = ? group by unit_key", [job_id]
    )
    assert len(per_unit) == total and {r["n"] for r in per_unit} == {1}
    assert store.count_samples(job_samples) == total == store.units_done(job_id)
    assert store.query("select * from decisions order by id") == decisions
    assert (store.status_of(first), store.status_of(second)) == ("accepted", "rejected")


# -- (c) bad requests against the real server process ------------------------------------------
def refuse_bad_requests(c, url: str, store: Store) -> None:
    """Each bad request: a clear message, and no job, decision or file served."""
    before = (n_rows(store, "jobs"), n_rows(store, "decisions"))
    with pytest.raises(AppError, match="diffusers-format folder"):
        c.predict("txt2img", "/etc", GROUPS, 1, 0, 2, 2.0, 1, api_name="/generate_submit")
    with pytest.raises(AppError, match="no sample with id 999999"):
        c.predict(999999, "", "", api_name="/review_accept")
    with pytest.raises(AppError, match="real image"):
        c.predict(1, "", "", api_name="/review_reject")
    root = store.root.resolve()
    for path in (root / "project.db", "/etc/passwd", f"{root}/files/..%2Fproject.db"):
        assert httpx.get(f"{url}/gradio_api/file={path}").status_code == 403, path
    assert (n_rows(store, "jobs"), n_rows(store, "decisions")) == before
