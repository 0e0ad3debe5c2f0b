"""Every public endpoint of the launched app, called through gradio_client, bad requests included.

One app serves the module (tests run in file order: groups, generate, train, review, files); the
generation backbone is the in-process dummy, so nothing is downloaded.
"""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from debias_core.store import SampleFilter

gradio_client = pytest.importorskip("gradio_client")
AppError = gradio_client.exceptions.AppError
CALLED: set[str] = set()
# Review filters after method, group, job, status: tag, verdict, scorer, min, max, sort.
MORE = ("any", "any", "", "", "", "id", "any")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from conftest import TINY_DIGITS

    import app as studio
    from debias_core.data.ingest import create_project
    from debias_core.generate import runner
    from debias_core.models.dummy import dummy_backbone
    from ui.launch import launch_options, start_server
    from ui.state import make_context

    root = tmp_path_factory.mktemp("app") / "proj"
    create_project(root, "colored-digits", options=dict(TINY_DIGITS))
    backbone = dummy_backbone(seed=0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "cached_backbone", lambda spec, device="cpu", dtype="": backbone)
        ctx = make_context(root, reviewer="tester", create=False)
        demo = studio.build_app(ctx)
        options = launch_options(ctx, "127.0.0.1", free_port(), max_file_size="64kb")
        start_server(demo, **options)
        try:
            yield ctx, demo.local_url.rstrip("/")
        finally:
            demo.close()


def client(url: str):
    return gradio_client.Client(url, verbose=False, download_files=False)


def call(c, name: str, *args):
    CALLED.add(name)
    return c.predict(*args, api_name=f"/{name}")


def refused(c, name: str, *args, match: str) -> None:
    """A bad request gets a clear message (not a traceback, not the generic one)."""
    with pytest.raises(AppError, match=match):
        call(c, name, *args)


def wait_job(c, kind: str, timeout: float = 60.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, table, _ = call(c, f"{kind}_jobs_poll")
        newest = table["data"][0]
        if newest[2] not in ("queued", "running"):
            return newest
        time.sleep(0.2)
    raise AssertionError(f"{kind} job still running after {timeout} s")


def n_decisions(ctx) -> int:
    return ctx.store.query("select count(*) as n from decisions")[0]["n"]


def test_groups_table_and_gallery_pages(app):
    ctx, url = app
    c = client(url)
    summary, table, chart, _, pairs_note, pairs, gallery, info, page = call(c, "groups_load")
    assert "Single-label project" in pairs_note and pairs["data"] == []
    assert "rarest first" in str(chart)
    assert "80" in summary and len(table["data"]) == 4
    assert page == 1 and "images" in info and 0 < len(gallery) <= 100
    assert all(item["caption"].startswith("#") for item in gallery)
    assert all("/gradio_api/file=" in item["image"]["url"] for item in gallery)
    summary, table, _, _, _, _ = call(c, "groups_open")
    assert table["data"][0][:2] == [0, 0]
    gallery, info, page = call(c, "groups_filter", "0,0", "real", "any")
    assert len(gallery) == 60 and page == 1 and "page 1 / 2" in info
    assert call(c, "groups_next", "0,0", "real", "any", 1)[2] == 2
    assert call(c, "groups_prev", "0,0", "real", "any", 2)[2] == 1
    assert call(c, "groups_page", "0,0", "real", "train", 99)[2] == 1  # clamped to the last
    assert call(c, "groups_pick_row_page", "0,1", "real", "test", 1)[0]
    refused(c, "groups_filter", "../../etc", "real", "any", match="not in the list of choices")
    refused(c, "groups_page", None, "real", "any", 1, match="choose a group")


def test_generate_job_runs_and_bad_requests_change_nothing(app):
    ctx, url = app
    c = client(url)
    call(c, "generate_load")
    call(c, "generate_open")
    n_jobs = len(ctx.store.list_jobs())
    refused(c, "generate_submit", "nope", "embedded", [], 1, 0, 1, 1.0, 1, match="not in the list")
    refused(c, "generate_submit", "txt2img", "embedded", ["7,7"], 1, 0, 1, 1, 1, match="not in")
    refused(c, "generate_submit", "txt2img", "embedded", [], 1, 0, 1, 1, 1, match="no target group")
    assert len(ctx.store.list_jobs()) == n_jobs
    note, *_ = call(c, "generate_submit", "txt2img", "embedded", ["0,1", "1,0"], 3, 0, 2, 2.0, 2)
    assert "Queued generation job" in note
    assert wait_job(c, "generate")[2] == "done"
    assert ctx.store.curation_counts()["pending"] == 6
    call(c, "generate_jobs_refresh")
    refused(c, "generate_job_cancel", "1", match="only queued or running")
    refused(c, "generate_job_resume", "1", match="only")
    refused(c, "generate_job_cancel", "12345", match="no job with id 12345")
    refused(c, "generate_job_cancel", "", match="pick a job")


def test_generate_shows_the_jobs_images_with_group_and_status(app):
    ctx, url = app
    c = client(url)
    job = ctx.store.list_jobs()[0]
    gallery, info = call(c, "generate_images_after_poll", "")  # the newest job
    assert info == f"Job **{job.id}**: 6 images (all shown, newest first)."
    captions = [item["caption"] for item in gallery]
    assert len(captions) == 6 and all(t.startswith("pending · digit ") for t in captions)
    newest = max(ctx.store.sample_ids(SampleFilter(job_id=job.id)))
    assert captions[0].endswith(f" · #{newest} · conflicting")
    assert call(c, "generate_images", str(job.id))[1] == info
    refused(c, "generate_images", "12345", match="no job with id 12345")
    train = ctx.store.create_job("train", {})
    refused(c, "generate_images", str(train), match="not a generation job")
    ctx.store.update_job(train, status="cancelled")


def test_generate_group_picks_and_method_widgets(app):
    ctx, url = app
    c = client(url)
    assert call(c, "generate_groups_all") == ["0,0", "0,1", "1,0", "1,1"]
    assert call(c, "generate_groups_none") == []
    assert call(c, "generate_groups_conflicting") == ["0,1", "1,0"]
    out = call(c, "generate_method", "diffinject")
    labels = [u.get("label") for u in out if isinstance(u, dict)]
    assert {"k", "gamma", "t_edit", "t_boost", "aligned_fraction", "run", "prompt"} <= set(labels)
    assert "picks its own targets" in out[-1]
    refused(c, "generate_method", "nope", match="not in the list")
    gce = ctx.store.create_run("train", "gce", {"synthetic": "none"})  # trained meanwhile
    ctx.store.finish_run(gce, {}, [])
    runs = call(c, "generate_method_choices", "diffinject")[0]
    assert runs["choices"][1] == [f"#{gce} gce (real only)", str(gce)] and "value" not in runs
    ctx.store.finish_run(gce, {}, [], status="failed")  # no model: keep it out of later tests
    n_jobs = len(ctx.store.list_jobs())
    slots = [None] * 18
    gamma = slots.copy()
    gamma[1] = 2.0  # the second number slot: gamma
    args = ["diffinject", "embedded", [], 2, 0, 2, 0.0, 1]
    refused(c, "generate_submit", *args, *gamma, "", match="gamma must be in")
    refused(c, "generate_submit", *args, *slots, "", match="needs a biased classifier run")
    refused(c, "generate_submit", *args, *slots, "bogus = 1", match="unknown diffinject param")
    assert len(ctx.store.list_jobs()) == n_jobs


def test_resume_of_an_interrupted_generation_adds_no_duplicates(app):
    ctx, url = app
    c = client(url)
    params = {"method": "txt2img", "backbone": "embedded", "groups": [[0, 1]], "per_group": 2}
    params |= {"steps": 2, "batch_size": 1}
    job_id = ctx.store.create_job("generate", params)  # queued by a process that then died
    note, *_ = call(c, "generate_job_cancel", str(job_id))
    assert "Cancel requested" in note and ctx.store.get_job(job_id).cancel_requested
    ctx.store.update_job(job_id, status="interrupted")
    note, *_ = call(c, "generate_job_resume", str(job_id))
    assert "queued again" in note
    assert wait_job(c, "generate")[2] == "done"
    assert ctx.store.count_samples(SampleFilter(job_id=job_id)) == 2
    refused(c, "train_job_resume", str(job_id), match="not a train job")


def test_train_job_runs_table_and_plots(app):
    ctx, url = app
    c = client(url)
    call(c, "train_load")
    call(c, "train_open")
    refused(c, "train_submit", "erm", "sideways", "small-cnn", 0, 1, "any", match="not in the list")
    refused(c, "train_submit", "erm", "none", "small-cnn", 0, 1, "job:999", match="not in the list")
    note, *_ = call(c, "train_submit", "erm", "none", "small-cnn", 0, 1, "any")
    assert "Queued training job" in note
    assert wait_job(c, "train", timeout=90)[2] == "done"
    call(c, "train_jobs_refresh")
    rows, run_choices, _, sources, multilabel = call(c, "train_runs_after_poll")
    assert multilabel["data"] == []  # a single-label project has no multi-label runs
    assert sources["choices"][0] == ["every generation method", "any"]
    run_id = str(rows["data"][0][0])
    assert rows["data"][0][1] == "erm" and rows["data"][0][5] == "done"
    assert rows["data"][0][2] == "real only"  # the data variant, read from the run
    assert any(value == run_id for _, value in run_choices["choices"])
    assert f"Run #{run_id} erm · real only" in str(call(c, "train_run_plot", run_id))
    compared = json.loads(call(c, "train_compare", [run_id])["plot"])
    assert compared["data"][0]["x"] == [f"#{run_id} erm<br>real only"]
    refused(c, "train_job_cancel", "1", match="not a train job")
    with pytest.raises(AppError, match="not in the list of choices"):
        call(c, "train_run_plot", "999")  # not a run the dropdown offers
    assert call(c, "train_run_multilabel", run_id) == ""  # a single-label run: no mAP table


def test_biased_pairs_are_for_multilabel_projects(app):
    ctx, url = app
    c = client(url)
    jobs = len(ctx.store.list_jobs())
    refused(c, "groups_pairs_submit", None, 2, match="multi-label project")
    refused(c, "groups_pairs_submit", 0, 2, match=">= 1")
    assert len(ctx.store.list_jobs()) == jobs  # refused before a job row
    note, table = call(c, "groups_pairs_after_poll")
    assert "Single-label" in note and table["data"] == []
    call(c, "bias-pairs_jobs_poll")
    call(c, "bias-pairs_jobs_refresh")
    refused(c, "bias-pairs_job_cancel", "", match="pick a job")
    refused(c, "bias-pairs_job_resume", "", match="pick a job")


def test_report_tab_builds_previews_and_offers_the_file(app):
    ctx, url = app
    c = client(url)
    call(c, "report_load")
    runs, methods = call(c, "report_open")
    run_id = str(ctx.store.list_runs("train")[-1].id)  # the train test's run
    assert any(value == run_id for _, value in runs["choices"])
    note, download, preview = call(c, "report_build", [run_id], [])
    assert note.startswith("Built **") and f"runs {run_id}" in note
    assert download["path"].endswith(".html") and preview.startswith("<iframe")
    refused(c, "report_build", ["999"], [], match="not in the list of choices")


def test_review_decides_undoes_and_refuses_bad_ids(app):
    ctx, url = app
    c = client(url)
    call(c, "review_load")
    call(c, "review_open")
    view = call(c, "review_filter", "txt2img", "any", "any", "pending", *MORE, "")
    first = view[0]
    assert "pending" in view[1] and "queue position 1 / 8" in view[1]
    assert "#" in view[2]["label"]  # a real exemplar of the target group
    second = call(c, "review_accept", first, "", "looks right")[0]
    assert second != first and ctx.store.status_of(first) == "accepted"
    assert ctx.store.decisions_for(first)[-1]["reviewer"] == "tester"
    third = call(c, "review_reject", second, "", "")[0]
    assert ctx.store.status_of(second) == "rejected"
    assert call(c, "review_undo", third, "")[0] == second  # back to the last decided sample
    assert ctx.store.status_of(second) == "pending"
    refused(c, "review_undo", second, "", match="no decision to undo")
    assert call(c, "review_next", "")[0] == third
    assert call(c, "review_prev", "")[0] == second
    assert call(c, "review_show", first, "")[0] == first
    before = n_decisions(ctx)
    refused(c, "review_show", 999999, "", match="no sample with id 999999")
    refused(c, "review_accept", 999999, "", "", match="no sample with id 999999")
    refused(c, "review_reject", 1, "", "", match="real image")
    refused(c, "review_undo", None, "", match="no sample selected")
    assert n_decisions(ctx) == before and ctx.store.status_of(1) == "pending"
    assert call(c, "review_load_queue", "any", "any", "any", "accepted", *MORE, "")[0] == first
    assert call(c, "review_open_queue", "any", "any", "any", "any", *MORE, "")[0] is not None


def test_review_attribution_is_computed_on_demand_and_cached(app):
    ctx, url = app
    c = client(url)
    call(c, "review_open")  # refreshes the run choices of this session
    run_id = str(ctx.store.list_runs("train")[-1].id)
    sample_id = call(c, "review_filter", "any", "any", "any", "any", *MORE, run_id)[0]
    assert "press Attribution" in call(c, "review_run", sample_id, run_id)["label"]
    evidence = call(c, "review_show", sample_id, run_id)[7]  # id, header, 5 images, evidence
    assert "choose an IG run, then press i" in evidence
    image, scores, evidence = call(c, "review_attribution", sample_id, run_id)
    assert image["label"].startswith(f"IG run #{run_id}") and image["value"]["path"]
    assert [row[0] for row in scores["data"]] == [f"ig:{run_id}"]
    assert "press i" not in evidence  # the map is shown: no hint to make it
    assert scores["data"][0][1].startswith("p(class) ")  # no mask: the map's probability
    assert f"ig:{run_id}" in ctx.store.scores_for(sample_id)
    assert "p(class)" in call(c, "review_run", sample_id, run_id)["label"]  # now cached
    refused(c, "review_attribution", 999999, run_id, match="no sample with id 999999")
    before = ctx.store.scores_for(sample_id)
    call(c, "review_attribution", sample_id, "")  # no run: an info message, no error badge
    assert ctx.store.scores_for(sample_id) == before


def test_bulk_needs_confirmation_then_decides_the_filtered_set(app):
    BULK = ("any", "0,1", "any", "pending", *MORE)  # noqa: N806
    ctx, url = app
    c = client(url)
    before = n_decisions(ctx)
    refused(c, "review_bulk", *BULK, "reject", False, "", match="confirm")
    assert n_decisions(ctx) == before
    where = SampleFilter(source="generated", y=0, a=1, status="pending")
    pending = ctx.store.list_samples(where)
    note, *view = call(c, "review_bulk", *BULK, "reject", True, "")
    counts = view[10]
    assert note == f"Rejected {len(pending)} samples." and "rejected" in counts
    assert {ctx.store.status_of(s.id) for s in pending} == {"rejected"}
    # The queue of the same filter reloads: its sample, count and confirmation are not stale.
    assert view[0] is None and "queue is empty" in view[1]
    assert view[11]["label"] == "Yes, apply to all 0 samples of this filter"
    assert view[11]["value"] is False and view[12]["total"] == 0


def _ids(payload: dict) -> list[int]:
    return [first + k for first, count in payload["ids"] for k in range(count)]


def test_embeddings_view_selection_grid_and_actions(app):
    ctx, url = app
    c = client(url)
    features, embed_progress, *_ = call(c, "embeddings_load")
    assert features["choices"][0][1] == "clip" and "No job yet." in embed_progress
    # The first open starts the embeddings (a job) and says so; the PCA follows it.
    payload, info = call(c, "embeddings_open", "clip", "pca", "status")
    assert payload["kind"] == "empty" and "Computing the `clip` embeddings" in info
    assert wait_job(c, "embed")[2] == "done"
    assert "Queued embed job" in call(c, "embeddings_embed_submit", "clip")
    assert wait_job(c, "embed")[2] == "done"
    call(c, "embed_jobs_refresh")
    # A reload shows the latest job of each panel, not "No job yet."
    _, embed_progress, embed_table, _, umap_progress, *_ = call(c, "embeddings_load")
    assert "No job yet." not in embed_progress and len(embed_table["data"]) == 2
    assert "No job yet." in umap_progress
    refused(c, "embed_job_cancel", "", match="pick a job")
    embed_job = next(j.id for j in ctx.store.list_jobs() if j.kind == "embed")
    refused(c, "embed_job_resume", str(embed_job), match="only")
    payload, info = call(c, "embeddings_view", "clip", "pca", "status")
    every = ctx.store.sample_ids()
    assert payload["kind"] == "points" and _ids(payload) == every and payload["n"] == len(every)
    assert payload["categories"] == ["real", "pending", "accepted", "rejected"]
    assert "PCA of clip" in info
    payload, info = call(c, "embeddings_open", "clip", "pca", "status")  # the tab again
    assert payload["kind"] == "colors" and "PCA of clip" in info  # no new points, no new job
    assert sum(j.kind == "embed" for j in ctx.store.list_jobs()) == 2
    colours = call(c, "embeddings_colour", "group")  # the session remembers the projection
    assert colours["kind"] == "colors" and len(colours["categories"]) == 4
    assert "x" not in colours  # a recolouring never re-sends coordinates
    refused(c, "embeddings_colour", "shoe size", match="not in the list of choices")

    generated = ctx.store.sample_ids(SampleFilter(source="generated"))
    assert len(generated) >= 4, "the generate test above makes them"
    real = ctx.store.sample_ids(SampleFilter(source="real"))[:20]
    grid, note, page = call(c, "embeddings_select", ", ".join(map(str, generated[:3] + real)))
    assert grid["ids"] == generated[:3] + real and page == 1 and "23" in note
    assert "ticked (" not in note  # ticks change in the browser: only its bar counts them
    assert [t["id"] for t in grid["items"]] == grid["ids"]
    assert grid["sprite"].startswith("gradio_api/file=") and grid["items"][2]["cell"] == 2
    with httpx.Client(base_url=url) as http:  # one sprite image holds the page's tiles
        assert http.get(f"/{grid['sprite']}").status_code == 200
    before = n_decisions(ctx)
    refused(c, "embeddings_accept", grid, "", "", False, "status", match="confirmation")
    assert n_decisions(ctx) == before
    grid["unchecked"] = real[:5]  # un-ticked in the grid: left alone
    out = call(c, "embeddings_accept", grid, "", "looks right", True, "status")
    assert out[0] == "Accepted: 3 samples of 18 selected (15 real samples skipped)."
    assert out[3]["kind"] == "colors" and out[4] is False  # recoloured; confirmation reset
    assert [ctx.store.status_of(i) for i in generated[:3]] == ["accepted"] * 3
    assert ctx.store.decisions_for(generated[0])[-1]["reason"] == "looks right"
    small = call(c, "embeddings_select", str(generated[3]))[0]
    assert call(c, "embeddings_reject", small, "", "", False, "status")[0].startswith("Rejected: 1")
    assert call(c, "embeddings_tag", small, "odd, blurry", "", False, "tag")[0].startswith(
        "Tagged: 2"
    )
    assert ctx.store.tags_of(generated[3]) == ["blurry", "odd"]
    assert call(c, "embeddings_untag", small, "odd", "", False, "tag")[0].startswith("Un-tagged: 1")
    refused(c, "embeddings_tag", small, "", "", False, "tag", match="type a tag")
    refused(c, "embeddings_select", "1, x", match="whole numbers")
    refused(c, "embeddings_select", str(10**30), match="positive whole numbers")
    refused(c, "embeddings_accept", {"ids": [10**30]}, "", "", True, "status", match="positive")
    refused(c, "embeddings_select", "999999", match="no sample with id 999999")

    assert 200 < len(every) <= 400
    many, _, _ = call(c, "embeddings_select", " ".join(map(str, every)))
    assert many["pages"] == 2 and len(many["items"]) == 200
    second, _, page = call(c, "embeddings_next_page", many, 1)
    assert page == 2 and [t["id"] for t in second["items"]] == every[200:]
    assert call(c, "embeddings_prev_page", second, 2)[2] == 1
    assert call(c, "embeddings_page", many, 99)[2] == 2  # clamped to the last page
    refused(c, "embeddings_umap_submit", "nope", match="not in the list of choices")
    call(c, "umap_jobs_poll")
    call(c, "umap_jobs_refresh")
    call(c, "embed_jobs_poll")
    refused(c, "umap_job_cancel", "", match="pick a job")
    refused(c, "umap_job_resume", "", match="pick a job")


def test_only_image_folders_are_served_and_uploads_are_capped(app):
    ctx, url = app
    root = ctx.root.resolve()
    thumb = next((root / "thumbs").rglob("*.png"))
    with httpx.Client(base_url=url) as http:
        assert http.get(f"/gradio_api/file={thumb}").status_code == 200
        for path in (
            root / "project.db",
            f"{root}/thumbs%2F..%2Fproject.db",
            "/etc/passwd",
            next((root / "runs").rglob("model.safetensors")),
        ):
            assert http.get(f"/gradio_api/file={path}").status_code == 403, path
        big = http.post("/gradio_api/upload", files={"files": ("big.png", b"0" * 200_000)})
        assert big.status_code == 413


def test_personalize_job_loss_curve_preview_and_artifacts(app, tmp_path_factory):
    from live_app import save_dummy_backbone

    ctx, url = app
    c = client(url)
    folder = str(save_dummy_backbone(tmp_path_factory.mktemp("pers") / "backbone"))
    text = call(c, "personalize_method_params", "group-lora")
    assert "samples_per_group = 0" in text and "lr = 0.001" in text
    # Only the targets the method declares, and only the chosen target's box.
    radio, classes, groups, samples = call(c, "personalize_targets", "group-lora", "groups")
    assert radio["value"] == "groups" and (classes["visible"], groups["visible"]) == (False, True)
    refused(c, "personalize_submit", "textual-inversion", folder, "groups", [], ["0,0"], "", 4,
            2, 0, "", match="textual-inversion takes as targets: classes, samples")  # fmt: skip
    radio, classes, groups, _ = call(c, "personalize_targets", "textual-inversion", "groups")
    assert "groups" not in [v for v, _ in radio["choices"]] and radio["value"] == "classes"
    assert (classes["visible"], groups["visible"], samples["visible"]) == (True, False, False)
    call(c, "personalize_targets", "group-lora", "classes")  # back to the method used below
    args = ["group-lora", folder, "groups", [], ["0,0", "1,1"], "", 4, 2, 0, text]
    refused(c, "personalize_submit", *args[:6], 0, 2, 0, text, match="Steps must be >= 1")
    refused(c, "personalize_submit", *args[:2], "samples", [], [], "1, x", 4, 2, 0, text,
            match="a sample id must be a whole number")  # fmt: skip
    refused(c, "personalize_submit", *args[:2], "samples", [], [], "9" * 23, 4, 2, 0, text,
            match="a sample id must be between 1 and")  # fmt: skip
    refused(c, "personalize_submit", *args[:-1], "lr = fast", match="cannot read 'fast'")
    jobs_before = len(ctx.store.list_jobs())
    note, *_ = call(c, "personalize_submit", *args)
    assert "Queued personalization job" in note and len(ctx.store.list_jobs()) == jobs_before + 1
    newest = wait_job(c, "personalize")
    assert newest[2] == "done", newest
    job_id = str(newest[0])
    figure, jobs, rows = call(c, "personalize_after_poll")
    assert [r[1] for r in rows["data"]] == ["lora", "lora"] and "step" in str(figure)
    traces = json.loads(figure["plot"])["data"]  # a 4-step job: a point per step, not one dot
    assert [list(t["x"]) for t in traces] == [[1, 2, 3, 4]] * len(traces)
    concepts, _ = call(c, "personalize_job", job_id)
    assert [v for v, _ in concepts["choices"]] == ["group-0-0", "group-1-1"]
    gallery, caption = call(c, "personalize_preview", job_id, "group-1-1")
    assert "reconstruction" in [item["caption"] for item in gallery]
    assert "group-lora" in caption
    refused(c, "personalize_preview", job_id, "group-9-9", match="not in the list of choices")
    for name in ("personalize_open", "personalize_load", "personalize_jobs_refresh"):
        call(c, name)
    refused(c, "personalize_job_cancel", job_id, match="only queued or running")
    refused(c, "personalize_job_resume", job_id, match="only .* jobs can resume")

    # The current selection (typed or lassoed in Embeddings) as the target.
    ids = ctx.store.sample_ids(SampleFilter(source="real", split="train", y=1))[:3]
    call(c, "embeddings_select", ", ".join(map(str, ids)))
    shown = ", ".join(f"#{i}" for i in ids)
    assert call(c, "personalize_selection") == f"Current selection: **3** samples ({shown})."
    text = call(c, "personalize_method_params", "textual-inversion")
    args = ["textual-inversion", folder, "selection", [], [], "", 2, 2, 0, text]
    note, *_ = call(c, "personalize_submit", *args)
    assert "Queued personalization job" in note
    assert ctx.store.list_jobs(limit=1)[0].params["samples"] == ids
    assert wait_job(c, "personalize")[2] == "done"


def test_review_grid_selects_decides_tags_and_refreshes(app):
    ctx, url = app
    c = client(url)
    out = call(c, "review_filter", "any", "any", "any", "any", *MORE, "")
    grid, info, page = out[-3:]
    ids = ctx.store.sample_ids(SampleFilter(source="generated"))
    assert [t["id"] for t in grid["items"]] == ids and page == 1 and grid["total"] == len(ids)
    assert grid["sprite"].startswith("gradio_api/file=") and "Select tiles" in info
    assert "selected ·" not in info  # the count line is the grid's own bar, shown once
    picked = ids[-2:]
    grid["selected"] = picked
    before = n_decisions(ctx)
    refused(c, "review_grid_accept", {"selected": ["x"]}, "", "", False, None, "",
            match="whole number")  # fmt: skip
    refused(c, "review_grid_accept", {"selected": []}, "", "", False, None, "", match="empty")
    refused(c, "review_grid_tag", grid, "", "", False, None, "", match="type a tag")
    assert n_decisions(ctx) == before
    note, fresh, info, confirm, *view = call(
        c, "review_grid_accept", grid, "", "sharp", False, ids[0], ""
    )
    assert note == "Accepted: 2 samples of 2 selected." and confirm is False
    assert [ctx.store.status_of(i) for i in picked] == ["accepted"] * 2
    assert ctx.store.decisions_for(picked[0])[-1]["reason"] == "sharp"
    shown = {t["id"]: t["status"] for t in fresh["items"]}
    assert [shown[i] for i in picked] == ["accepted"] * 2 and fresh["selected"] == []
    assert view[0] == ids[0] and "accepted" in view[-1]  # the shown sample and counts refresh
    fresh["selected"] = picked
    assert call(c, "review_grid_tag", fresh, "odd, keep", "", False, None, "")[0].startswith(
        "Tagged: 4"
    )
    assert call(c, "review_grid_untag", fresh, "keep", "", False, None, "")[0].startswith(
        "Un-tagged: 2"
    )
    assert call(c, "review_grid_reject", fresh, "", "", False, None, "")[0].startswith("Rejected")
    assert ctx.store.tags_of(picked[0]) == ["odd"] and ctx.store.status_of(picked[0]) == "rejected"
    assert call(c, "review_grid_next", fresh, 1)[2] == 1  # one page only: clamped
    assert call(c, "review_grid_prev", fresh, 1)[2] == 1
    assert call(c, "review_grid_page", fresh, 99)[2] == 1
    refused(c, "review_grid_page", fresh, "abc", match="whole number")

    # The shown sample's tags, and the filters by tag, verdict and score.
    note, *view = call(c, "review_tag", ids[0], "", "blue-ish", "hue")
    assert note.startswith("Tagged: 1") and "Tags: blue-ish" in view[7]
    assert ctx.store.tag_history(ids[0])[-1]["reason"] == "hue"
    assert call(c, "review_untag", ids[0], "", "blue-ish", "")[0].startswith("Un-tagged: 1")
    refused(c, "review_tag", ids[0], "", "x" * 65, "", match="at most 64 characters")
    call(c, "review_open")  # refreshes the tag / scorer choices of this session
    by_tag = call(c, "review_filter", "any", "any", "any", "any", "odd", *MORE[1:], "")
    assert [t["id"] for t in by_tag[-3]["items"]] == picked
    ctx.store.add_scores("judge", {ids[0]: 0.9, ids[1]: 0.2})
    undecided = [i for i in ids if ctx.store.verdicts_of(i)["person"] is None]
    assert undecided, "the tests above leave some samples to a policy"
    ctx.store.decide_as_policy(undecided[:1], "needs-review", "rule", "unsure")
    call(c, "review_open")
    scored = ("any", "any", "any", "any", "any", "any", "judge", "0.5", "", "-score:judge", "any")
    assert call(c, "review_filter", *scored, "")[-3]["total"] == 1
    refused(c, "review_filter", "any", "any", "any", "any", "any", "any", "", "0.5", "", "id",
            "any", "", match="needs a scorer")  # fmt: skip
    refused(c, "review_filter", *scored[:7], "lots", "", "id", "any", "", match="must be a number")
    asked = call(c, "review_filter", "any", "any", "any", "needs-review", *MORE, "")
    assert asked[0] == undecided[0] and "policy `rule`: **needs-review** (unsure)" in asked[7]

    # Saved views: save, list, load (the filters come back, then the queue).
    note, views = call(c, "review_save_view", "  judged  ", *scored)
    assert note == "Saved view 'judged'." and views["value"] == "judged"
    loaded = call(c, "review_load_view", "judged")
    assert tuple(loaded[-11:]) == scored
    assert call(c, "review_view_queue", *scored, "")[-3]["total"] == 1
    refused(c, "review_save_view", "", *scored, match="type a name")
    refused(c, "review_load_view", "nope", match="not in the list of choices")


def test_review_export_import_round_trip_and_agreement(app, tmp_path):
    import csv
    import io
    import zipfile

    ctx, url = app
    c = client(url)
    file = call(c, "review_export", "all", True)
    with httpx.Client(base_url=url) as http:
        data = http.get(file["url"]).content
    archive = zipfile.ZipFile(io.BytesIO(data))
    name = next(n for n in archive.namelist() if n.endswith("curation.csv"))
    rows = list(csv.DictReader(io.StringIO(archive.read(name).decode())))
    assert any(n.endswith("metadata.csv") for n in archive.namelist())
    from debias_core.data.curation_io import curation_rows

    assert [int(r["sample_id"]) for r in rows] == [r["sample_id"] for r in curation_rows(ctx.store)]
    assert {r["status"] for r in rows} <= {"pending", "accepted", "rejected"}
    refused(c, "review_export", "sideways", True, match="not in the list of choices")

    path = tmp_path / "curation.csv"
    path.write_text(archive.read(name).decode())
    before = n_decisions(ctx)
    note, _ = call(c, "review_import", gradio_client.handle_file(str(path)))
    assert note.startswith("Imported") and "0 decisions" in note and n_decisions(ctx) == before
    target = next(r for r in rows if r["status"] == "rejected")
    target["status"], target["tags"] = "accepted", "from-csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    note, counts = call(c, "review_import", gradio_client.handle_file(str(path)))
    sid = int(target["sample_id"])
    assert "1 decisions" in note and ctx.store.status_of(sid) == "accepted"
    assert ctx.store.tags_of(sid) == ["from-csv"] and "accepted" in counts
    bad = tmp_path / "bad.csv"
    bad.write_text("sample_id,sha256,status\n1,0000,accepted\n")
    before = n_decisions(ctx)
    refused(c, "review_import", gradio_client.handle_file(str(bad)), match="sha256")
    refused(c, "review_import", None, match="upload a curation CSV")
    assert n_decisions(ctx) == before

    from debias_core.verify.agreement import policy_agreement

    people = [i for i in ctx.store.sample_ids(SampleFilter(source="generated"))
              if ctx.store.status_of(i) in ("accepted", "rejected")]  # fmt: skip
    ctx.store.decide_as_policy(people, "accept", "always")
    table, note = call(c, "review_agreement")
    mine = [r for r in table["data"] if r[0] == "always"]
    expected = policy_agreement(ctx.store, "always")
    assert [r[2:5] for r in mine] == expected.confusion and mine[0][-1] == len(people)
    assert "kappa" in note


def test_verify_tab_runs_a_policy_and_a_segmenter_as_jobs(app):
    ctx, url = app
    c = client(url)
    call(c, "verify_load")
    method_update, *_ = call(c, "verify_open")
    assert "txt2img" in [v for v, _ in method_update["choices"]]
    labels = [u.get("label") for u in call(c, "verify_policy", "judge") if isinstance(u, dict)]
    assert {"accept_at", "reject_below", "context", "weights"} <= set(labels)
    refused(c, "verify_policy", "nope", match="not in the list")
    slots = [None] * 18
    too_high = slots.copy()
    too_high[0] = 2.0  # the first number slot: accept_at
    n_jobs = len(ctx.store.list_jobs())
    refused(c, "verify_submit", "judge", "txt2img", "", *too_high, "", match="accept_at must be in")
    refused(c, "verify_submit", "judge", "txt2img", "abc", *slots, "", match="generation job id")
    refused(c, "verify_submit", "judge", "nope", "", *slots, "", match="a generation method")
    assert len(ctx.store.list_jobs()) == n_jobs
    generated = ctx.store.sample_ids(SampleFilter(method="txt2img"))
    note, *_ = call(c, "verify_submit", "judge", "txt2img", "", *slots, "")
    assert "verify job" in note
    assert wait_job(c, "verify")[2] == "done"
    judged = [i for i in generated if any(r["reviewer"] == "policy:judge"
                                         for r in ctx.store.decisions_for(i))]  # fmt: skip
    assert judged == generated
    call(c, "verify_jobs_refresh")
    refused(c, "verify_job_cancel", "", match="pick a job")
    refused(c, "verify_job_resume", "12345", match="no job with id 12345")

    extra = call(c, "segment_segmenter", "dataset")[-1]
    assert extra["visible"] is False and extra["value"] == ""  # no parameters: nothing to show
    refused(c, "segment_submit", "dataset", " ", "real", *slots, "", match="prompt is empty")
    sideways = ("dataset", "{class}", "sideways", *slots, "")
    refused(c, "segment_submit", *sideways, match="not in the list")
    note, *_ = call(c, "segment_submit", "dataset", "{class}", "real", *slots, "")
    assert "segment job" in note and wait_job(c, "segment")[2] == "done"
    call(c, "segment_jobs_refresh")
    refused(c, "segment_job_cancel", "", match="pick a job")
    refused(c, "segment_job_resume", "", match="pick a job")


def test_executor_choice_and_cooccurrence_answer_in_one_line(app):
    """The executor choice above the tabs (local here: the Ray path has its own tests) and the
    Verify tab's co-occurrence view, which needs a multi-label project."""
    ctx, url = app
    c = client(url)
    assert "this app's process" in call(c, "choose_executor", "local", "")
    assert "this app's process" in call(c, "choose_ray_address", "local", "")
    refused(c, "choose_executor", "bogus", "", match="executor must be one of|not in the list")
    assert ctx.executor.label == "local"
    refused(c, "verify_cooccurrence", "accepted", match="needs a multi-label project")


def test_demo_comparison_shows_both_worst_groups_with_intervals(app):
    # Last but one: its generated images would change the counts the tests above expect.
    ctx, url = app
    c = client(url)
    n_jobs = len(ctx.store.list_jobs())
    refused(c, "compare_submit", 2, 1, "", match="seeds")
    refused(c, "compare_submit", 2, 1, "0,x", match="a seed must be a whole number")
    refused(c, "compare_submit", 10**9, 1, "0", match="per_group")
    refused(c, "compare_submit", 2, 1, "0", "flip", match="not in the list")
    assert len(ctx.store.list_jobs()) == n_jobs
    note, *_ = call(c, "compare_submit", 2, 1, "0")
    assert "Queued comparison job" in note
    assert wait_job(c, "compare", timeout=180)[2] == "done"
    call(c, "compare_jobs_refresh")
    choice, summary, _ = call(c, "compare_after_poll", None)
    job = choice["value"]
    assert "ERM, real only" in summary and "worst group [95%]" in summary
    assert "Worst-group lift" in summary and "(n=" in summary
    summary, plot = call(c, "compare_show", job)
    traces = json.loads(plot["plot"])["data"]
    assert len(traces) == 2 and all(t["error_x"]["arrayminus"] for t in traces)
    assert {t["name"].split(" · ")[0] for t in traces} == {
        "ERM, real only, affine augmentation",
        "txt2img x 2/group + ffr (llr second), affine augmentation",
    }
    refused(c, "compare_job_cancel", job, match="only queued or running")
    generated = ctx.store.get_job(int(job)).result["generate_job"]  # one of its steps
    refused(c, "compare_job_resume", str(generated), match="not a compare job")


def test_every_listener_is_named_and_every_public_endpoint_was_called(app):
    _, url = app
    info = client(url).view_api(return_format="dict", print_info=False)
    assert info["unnamed_endpoints"] == {}
    public = {name.lstrip("/") for name in info["named_endpoints"]}
    assert public - CALLED == set(), "endpoints without a client test"


def test_launch_settings_are_safe_by_default(tmp_path):
    from ui.launch import launch_options, parse_auth

    class Ctx:
        root = tmp_path

    options = launch_options(Ctx(), max_file_size="1mb")
    assert options["server_name"] == "127.0.0.1" and options["share"] is False
    assert options["enable_monitoring"] is False and options["mcp_server"] is False
    assert options.get("run_history", False) is False
    assert str(tmp_path / "project.db") in options["blocked_paths"]
    assert options["allowed_paths"] == [str(tmp_path / "thumbs"), str(tmp_path / "files")]
    assert parse_auth("ann:secret") == ("ann", "secret") and parse_auth(None) is None
    with pytest.raises(ValueError, match="user:password"):
        parse_auth("no-colon")


def test_main_refuses_bad_flags_and_foreign_folders(tmp_path, capsys):
    import app as studio

    (tmp_path / "notes.txt").write_text("not a project")
    assert studio.main(["--project", str(tmp_path)]) == 2
    assert studio.main(["--project", str(tmp_path / "new"), "--auth", "nocolon"]) == 2
    err = capsys.readouterr().err
    assert "is not a Debias Studio project" in err and "user:password" in err
    assert not (tmp_path / "project.db").exists() and not (tmp_path / "new").exists()


def test_an_empty_folder_gets_the_chosen_demo(tmp_path, monkeypatch, capsys):
    """`--demo colored-digits-multilabel` fills a new folder with the multi-label demo (the
    issue-20 path in the app); an unknown demo is refused before anything is created."""
    import app as studio
    from debias_core.data import ingest
    from ui.state import open_or_create

    made = []

    class Made:
        def count_samples(self) -> int:
            return 0

    def create(root, name, **kw):
        made.append(name)
        return Made()

    monkeypatch.setattr(ingest, "create_project", create)
    open_or_create(tmp_path / "ml", progress=lambda f, m: None, demo="colored-digits-multilabel")
    assert made == ["colored-digits-multilabel"]
    with pytest.raises(ValueError, match="demo must be one of"):
        open_or_create(tmp_path / "other", demo="bogus")
    with pytest.raises(SystemExit):
        studio.main(["--project", str(tmp_path / "x"), "--demo", "bogus"])
    assert "invalid choice" in capsys.readouterr().err
    assert made == ["colored-digits-multilabel"] and not (tmp_path / "x").exists()
