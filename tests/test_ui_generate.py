"""The Generate tab's views without a server: widgets built from a method's parameter dataclass
(a method registered here shows up with no UI edit), group picks, and the job's images."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import gradio as gr
import numpy as np
import pytest

from debias_core.generate import GENERATORS, GenerateConfig
from debias_core.generate.base import NeedsRun, plans_own_targets
from debias_core.generate.runner import check_generate
from debias_core.store import GeneratedImage, Recipe
from debias_core.train import TrainConfig
from debias_core.train.run import run_training
from ui import generate as gen
from ui import method_form as mf
from ui.common import error_text, friendly


@pytest.fixture
def ctx(tiny_project):
    from ui.state import make_context

    return make_context(tiny_project.root, reviewer="tester", create=False)


@dataclass(frozen=True)
class ThrowawayParams:
    """Every kind of field a method may have."""

    source_run: int | None = field(default=None, metadata={"help": "an ERM run", "runs": "erm"})
    strength: float = field(default=0.5, metadata={"help": "how much"})
    count: int = 3
    mode: Literal["soft", "hard"] = "soft"
    segmenter: str = field(default="dataset", metadata={"choices": ("dataset", "grounded-sam")})
    prompt: str = "a photo of {class}"
    invert: bool = False
    nested: dict[str, Any] = field(default_factory=dict)
    # More numbers than the number slots: the rest go to the key = value box.
    n1: int = 1
    n2: int = 2
    n3: int = 3
    n4: int = 4
    n5: int = 5
    n6: int = 6
    n7: int = 7

    def check_inputs(self) -> None:
        if self.count < 1:
            raise ValueError("count must be >= 1")


class Throwaway:
    default_params = ThrowawayParams()
    default_steps = 7
    plans_own_targets = False

    def check(self, store, config) -> None:
        from debias_core.generate.base import method_params

        method_params(self, config)


@pytest.fixture
def throwaway(monkeypatch):
    monkeypatch.setitem(GENERATORS._items, "throwaway", Throwaway())
    return "throwaway"


def test_a_new_method_shows_its_fields_with_no_ui_edit(ctx, throwaway):
    erm = ctx.store.create_run("train", "erm", {"synthetic": "none"})
    ctx.store.finish_run(erm, {}, [])
    gce = ctx.store.create_run("train", "gce", {"synthetic": "none"})
    ctx.store.finish_run(gce, {}, [])
    view = gen.method_view(ctx, throwaway)
    shown = view.form.shown()
    assert shown == {
        "source_run": "choice",
        "strength": "number",
        "count": "number",
        "mode": "choice",
        "segmenter": "choice",
        "prompt": "text",
        "invert": "bool",
        "nested": "extra",
        "n1": "number",
        "n2": "number",
        "n3": "number",
        "n4": "number",
        "n5": "number",
        "n6": "number",
        "n7": "extra",  # the ninth number: no slot left
    }
    choices = {s.name: s for s in view.form.slots["choice"] if s.visible}
    assert choices["source_run"].choices == [("none", ""), (f"#{erm} erm (real only)", str(erm))]
    assert choices["mode"].choices == ["soft", "hard"] and choices["mode"].value == "soft"
    assert choices["segmenter"].choices == ["dataset", "grounded-sam"]
    assert view.form.extra == "nested = {}\nn7 = 7"
    assert view.steps == 7 and view.targets_groups and view.note == ""
    updates = mf.widget_updates(view.form)
    assert len(updates) == sum(mf.POOLS.values()) + 1
    assert updates[0].label == "strength" and updates[0].visible is True
    assert updates[7].label == "n6" and updates[8].label == "prompt"  # then the text slots
    assert updates[9].visible is False and updates[9].label == mf.HIDDEN_LABEL
    assert updates[-1].visible is True  # the key = value box


def test_form_values_become_only_the_changed_parameters(ctx, throwaway):
    form = gen.method_form(ctx, throwaway)
    defaults = ThrowawayParams()
    values = _values(form, {"strength": 0.5, "count": 4.0, "mode": "hard", "invert": True})
    raw = mf.form_params(form, defaults, values, "nested = {}\nn7 = 9")
    assert raw == {"count": 4.0, "mode": "hard", "invert": True, "n7": "9"}
    params = gen.generate_params(ctx, throwaway, "embedded", ["0,1"], 2, 0, 3, 1.0, 2, values, "")
    assert params["params"] == {"count": 4.0, "mode": "hard", "invert": True}
    assert params["groups"] == [[0, 1]]


@pytest.mark.parametrize(
    ("changes", "extra", "message"),
    [
        ({"count": 0}, "", "count must be >= 1"),
        ({"count": 1.5}, "", "must be a whole number"),
        ({"mode": "medium"}, "", r"mode must be one of \['soft', 'hard'\]"),
        ({"segmenter": "magic"}, "", "segmenter must be one of"),
        ({}, "bogus = 1", r"unknown throwaway parameter\(s\) \['bogus'\]"),
        ({}, "no equals sign", "key = value"),
        ({"source_run": "abc"}, "", "source_run must be int"),
    ],
)
def test_bad_parameter_values_are_refused_before_a_job(ctx, throwaway, changes, extra, message):
    form = gen.method_form(ctx, throwaway)
    params = None
    with pytest.raises(ValueError, match=message):
        values = _values(form, changes)
        params = gen.generate_params(
            ctx, throwaway, "embedded", ["0,1"], 2, 0, 3, 1.0, 2, values, extra
        )
        ctx.executor.submit_job("generate", params)
    assert ctx.store.list_jobs() == []


def test_diffinject_picks_its_own_targets_and_offers_gce_runs(ctx):
    gce = ctx.store.create_run("train", "gce", {"synthetic": "none"})
    ctx.store.finish_run(gce, {}, [])
    view = gen.method_view(ctx, "diffinject")
    assert not view.targets_groups and "picks its own targets" in view.note
    assert view.steps == 50
    run = view.form.slots["choice"][0]
    assert run.name == "run" and run.choices == [("none", ""), (f"#{gce} gce (real only)", "1")]
    assert [s.name for s in view.form.slots["number"] if s.visible] == [
        "k", "gamma", "t_edit", "t_boost", "aligned_fraction",
    ]  # fmt: skip
    values = _values(view.form, {"run": str(gce), "gamma": 0.5})
    params = gen.generate_params(ctx, "diffinject", "embedded", ["0,1"], 1, 0, 2, 0.0, 1, values)
    assert params["groups"] == [] and params["params"] == {"run": "1", "gamma": 0.5}
    txt = gen.method_view(ctx, "txt2img").form
    assert txt.shown() == {"template": "choice"} and txt.slots["choice"][0].choices == [
        "contrastive", "ffr", "vanilla",
    ]  # fmt: skip


def test_group_picks_and_no_group_means_none(ctx):
    every = [v for _, v in gen.group_choices(ctx.store)]
    assert gen.pick_groups(ctx, "all") == every == ["0,0", "0,1", "1,0", "1,1"]
    assert gen.pick_groups(ctx, "none") == []
    assert gen.pick_groups(ctx, "conflicting") == ["0,1", "1,0"]
    with pytest.raises(ValueError, match="no target group is ticked"):
        gen.generate_params(ctx, "txt2img", "embedded", [], 1, 0, 1, 1.0, 1, _blank(), "")
    with pytest.raises(ValueError, match="must be one of"):
        gen.pick_groups(ctx, "some")


def test_the_gallery_shows_a_jobs_newest_images_with_group_status_and_tags(ctx, monkeypatch):
    store = ctx.store
    assert gen.job_images(ctx).info == "No generation job yet."
    job = store.create_job("generate", {"method": "txt2img"})
    recipe = Recipe(method="txt2img", backbone_id="dummy", backbone_hash="0", seed=0)
    image = np.zeros((8, 8, 3), np.uint8)
    ids = store.add_generated_unit(
        job, "u0", [GeneratedImage(image, 0, 1, recipe), GeneratedImage(image, 1, 0, recipe)]
    )
    store.decide([ids[0]], "accept", "tester")
    store.add_tags([ids[1]], ["blurry"], "tester")
    view = gen.job_images(ctx)  # the newest job by default
    assert [caption for _, caption in view.items] == [
        f"pending · digit 1 / red · #{ids[1]} · conflicting · blurry",
        f"accepted · digit 0 / green · #{ids[0]} · conflicting",
    ]
    assert view.info == f"Job **{job}**: 2 images (all shown, newest first)."
    monkeypatch.setattr(gen, "GALLERY_LIMIT", 1)
    view = gen.job_images(ctx, str(job))
    assert len(view.items) == 1 and "(the newest 1 shown" in view.info
    other = store.create_job("train", {})
    with pytest.raises(ValueError, match=f"job {other} is not a generation job"):
        gen.job_images(ctx, str(other))


@pytest.mark.parametrize("method", GENERATORS.names())
def test_every_registered_generator_can_be_submitted_from_the_tab(ctx, method, monkeypatch):
    """The tab's defaults (and its group box only where shown) queue a job; a method missing a
    run says where to click in one message, and with that run trained, it queues."""
    queued: list[int] = []
    monkeypatch.setattr(ctx.executor, "_enqueue", queued.append)  # queue only: nothing runs

    def press_generate(**changes):
        view = gen.method_view(ctx, method)  # built now: runs trained since become choices
        groups = gen.default_groups(ctx) if view.targets_groups else []
        values = _values(view.form, changes)
        params = gen.generate_params(
            ctx, method, "embedded", groups, 8, 0, view.steps, 4.0, 8, values
        )
        return gen.submit(ctx, params)

    if getattr(GENERATORS.get(method), "multilabel", False):  # this project is single-label
        with pytest.raises(gr.Error, match="needs a multi-label project"):
            friendly(press_generate)()
        assert ctx.store.list_jobs() == [] and queued == []
        return
    try:
        note = press_generate()
    except NeedsRun as missing:
        message = error_text(missing)  # what the app shows (ui.common.friendly)
        assert f"Train & Evaluate tab (Method: {missing.method}, then Train)" in message
        assert f"'{missing.param}' box" in message and "python -m" not in message
        with pytest.raises(gr.Error, match="Train & Evaluate"):
            friendly(press_generate)()
        assert ctx.store.list_jobs() == [] and queued == []
        config = TrainConfig(method=missing.method, epochs=1, batch_size=16)
        run = run_training(ctx.store, config).run_id
        note = press_generate(**{missing.param: str(run)})
    jobs = [j for j in ctx.store.list_jobs() if j.kind == "generate"]
    assert note[0] == f"Queued generation job **{jobs[0].id}**." and queued == [jobs[0].id]
    assert jobs[0].params["method"] == method
    assert jobs[0].params["groups"] == (
        [] if plans_own_targets(GENERATORS.get(method)) else [[0, 1], [1, 0]]
    )


def test_methods_that_plan_their_own_targets_hide_the_group_box_and_refuse_groups(ctx):
    own = [m for m in GENERATORS.names() if plans_own_targets(GENERATORS.get(m))]
    assert {"dbb", "diffinject"} <= set(own) and "txt2img" not in own
    for method in own:
        view = gen.method_view(ctx, method)
        assert not view.targets_groups and "picks its own targets" in view.note
        config = GenerateConfig(method=method, groups=((0, 1),))
        with pytest.raises(ValueError, match=f"{method} plans its own targets"):
            check_generate(ctx.store, asdict(config))


def test_every_generator_declares_whether_it_plans_its_own_targets(monkeypatch):
    for method in GENERATORS.names():
        assert isinstance(GENERATORS.get(method).plans_own_targets, bool), method

    class Undeclared(Throwaway):
        plans_own_targets = None

    with pytest.raises(TypeError, match="must declare plans_own_targets"):
        plans_own_targets(Undeclared())


def test_a_refused_request_leaves_the_jobs_panels_as_they_were(ctx):
    """Every event that writes a jobs panel (progress bar, jobs table) hides Gradio's status
    badges: a refusal is the one toast, not a red "Error" over the panels."""
    import app as studio

    config = studio.build_app(ctx).get_config_file()
    panel_ids = {
        c["id"]
        for c in config["components"]
        if str(c["props"].get("elem_id") or "").endswith("-progress")
        or str(c["props"].get("label") or "").endswith(" jobs")
    }
    assert len(panel_ids) >= 2 * 6  # a progress bar and a table per kind of job
    writers = [d for d in config["dependencies"] if panel_ids & set(d["outputs"])]
    names = {d["api_name"] for d in writers}
    assert {"generate_submit", "train_submit", "generate_job_cancel"} <= names
    badged = [d["api_name"] for d in writers if d["show_progress"] != "hidden"]
    assert badged == []


def _blank() -> list:
    return [None] * len(mf.slot_order())


def _values(form: mf.MethodForm, changes: dict) -> list:
    """The slot values the page would send: each shown slot's value, with `changes` typed in."""
    out = []
    for kind, i in mf.slot_order():
        slot = form.slots[kind][i]
        out.append(changes.get(slot.name, slot.value) if slot.visible else None)
    return out
