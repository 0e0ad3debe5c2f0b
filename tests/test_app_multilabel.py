"""The multi-label path (issue 20) end to end through the app's API on the tiny multi-label demo:
biased pairs (Groups), the standard multi-label classifier (Train & Evaluate), DecoupleGen's
removal edit with the per-label personalization it runs (Generate), label-presence verification
and the co-occurrence view (Verify)."""

from __future__ import annotations

import shutil
import time

import gradio_client
import pytest

from debias_core.store import SampleFilter

pytestmark = pytest.mark.slow
FINISHED = ("done", "failed", "cancelled", "interrupted")


@pytest.fixture
def app(multilabel_template, tmp_path, monkeypatch):
    import app as studio
    from debias_core.generate import runner
    from debias_core.models.dummy import dummy_backbone
    from tests.live_app import free_port
    from ui.launch import launch_options, start_server
    from ui.state import make_context

    root = tmp_path / "ml"
    shutil.copytree(multilabel_template, root)
    backbone = dummy_backbone(seed=0)
    monkeypatch.setattr(runner, "cached_backbone", lambda spec, device="cpu", dtype="": backbone)
    ctx = make_context(root, reviewer="tester", create=False)
    demo = studio.build_app(ctx)
    start_server(demo, **launch_options(ctx, "127.0.0.1", free_port(), max_file_size="64kb"))
    try:
        yield ctx, gradio_client.Client(demo.local_url, verbose=False, download_files=False)
    finally:
        demo.close()
        ctx.shutdown()


def finished(ctx, kind: str, timeout: float = 240.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = [j for j in ctx.store.list_jobs() if j.kind == kind]
        if jobs and all(j.status in FINISHED for j in jobs):
            return [j.status for j in jobs]
        time.sleep(0.5)
    raise AssertionError(f"the {kind} job did not finish in {timeout} s")


def test_pairs_training_edits_verification_and_cooccurrence_from_the_app(app):
    ctx, c = app
    c.predict(None, 2, api_name="/groups_pairs_submit")
    assert finished(ctx, "bias-pairs") == ["done"]
    pairs = ctx.store.biased_pairs()
    assert pairs and all(p.run_id is not None for p in pairs)

    c.predict("multilabel-bce", "none", "spatial-cnn", 0, 2, "any", False, api_name="/train_submit")
    assert finished(ctx, "train") == ["done"]
    assert "multilabel" in ctx.store.list_runs()[-1].metrics

    c.predict(
        method="decouplegen-multi", backbone="embedded", groups=["0,1"], per_group=1, seed=0,
        steps=2, guidance=4.0, batch_size=2, more_parameters="personalize_steps = 2",
        api_name="/generate_submit",
    )  # fmt: skip
    assert finished(ctx, "personalize") == ["done"] and finished(ctx, "generate") == ["done"]
    generated = ctx.store.sample_ids(SampleFilter(source="generated"))
    objects = {p.b for p in pairs}
    sets = ctx.store.label_sets(generated)
    assert generated and all(sets[i] & objects and len(sets[i]) == 1 for i in generated)  # {b}

    c.predict(
        policy="label-presence", method="(any method)", job=None, number_1=None, number_2=None,
        text_1=None, text_2=None, api_name="/verify_submit",
    )  # fmt: skip
    assert finished(ctx, "verify") == ["done"]
    decided = sum(ctx.store.curation_counts()[k] for k in ("accepted", "rejected"))
    assert decided == len(generated)
    _, note = c.predict("all", api_name="/verify_cooccurrence")
    assert f"adds {len(generated)} generated" in note
