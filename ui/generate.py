"""Generate tab: pick a method and its parameters, a backbone and target groups; launch a
persisted generation job and watch the images it makes.

Methods and backbones come from the registries and each method's widgets from its parameter
dataclass (ui/method_form.py), so a newly registered method shows up here, with its fields, with
no UI change. Run alone: python -m ui.generate --project DIR
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from debias_core.analysis.attribution import thumbnail_path
from debias_core.generate import GENERATORS
from debias_core.generate.base import plans_own_targets
from debias_core.models.backbone import BACKBONES
from debias_core.store import SampleFilter
from ui import method_form as mf
from ui.common import (
    MAX_SEED,
    TabView,
    as_float,
    as_int,
    checked,
    friendly,
    group_choices,
    group_label,
    parse_group,
    parse_optional_int,
)
from ui.jobs import PANEL_EVENT, jobs_of, poll, render_jobs
from ui.state import AppContext

GROUP_PICKS = ("all", "none", "conflicting")
GALLERY_LIMIT = 100  # the gallery is not virtualised: the newest 100 images of the job
THUMB_SIZE = 96


# -- target groups ------------------------------------------------------------------------------
def default_groups(ctx: AppContext) -> list[str]:
    """The bias-conflicting groups: the ones counterfactuals are for."""
    return pick_groups(ctx, "conflicting")


def pick_groups(ctx: AppContext, which: str) -> list[str]:
    """The group values of 'all', 'none' or 'conflicting' (bias-conflicting only)."""
    if which not in GROUP_PICKS:
        raise ValueError(f"groups to pick must be one of {GROUP_PICKS}, got {which!r}")
    values = [v for _, v in group_choices(ctx.store)]
    if which == "all":
        return values
    if which == "none":
        return []
    aligned = ctx.store.aligned_attrs()
    return [v for v in values if aligned.get(parse_group(v)[0]) != parse_group(v)[1]]


def target_groups_for(method: str, groups) -> list[list[int]]:
    """The groups a job gets: the ticked ones (at least one) for a method that targets groups,
    none for a method that plans its own targets (its group box is hidden, whatever it holds)."""
    if plans_own_targets(GENERATORS.get(method)):
        return []
    if not groups:
        raise ValueError(
            "no target group is ticked: tick at least one (or press All / Bias-conflicting only)"
        )
    return [list(parse_group(g)) for g in groups]


# -- the method's parameters --------------------------------------------------------------------
def method_form(ctx: AppContext, method: str) -> mf.MethodForm:
    """The chosen method's parameter widgets (unknown method -> ValueError listing the valid)."""
    if not isinstance(method, str):
        raise ValueError(f"method must be one of {GENERATORS.names()}, got {method!r}")
    return mf.method_form(ctx.store, method, GENERATORS.get(method).default_params)


@dataclass
class MethodView:
    """What choosing a method changes: its widgets, default steps, whether groups are shown."""

    form: mf.MethodForm
    steps: int
    targets_groups: bool
    note: str


def method_view(ctx: AppContext, method: str) -> MethodView:
    form = method_form(ctx, method)
    generator = GENERATORS.get(method)
    groups = not plans_own_targets(generator)
    note = "" if groups else (f"`{method}` picks its own targets, so no groups are chosen here.")
    return MethodView(form, generator.default_steps, groups, note)


def check_backbone(spec: str | None) -> str:
    """A registered backbone name, or a local diffusers folder typed into the dropdown."""
    if spec is not None and not isinstance(spec, str):
        raise ValueError(f"backbone must be a name or a folder path, got {spec!r}")
    spec = (spec or "").strip()
    if spec in BACKBONES.names():
        return spec
    folder = Path(spec).expanduser()
    if spec and (folder / "model_index.json").is_file():
        return str(folder.resolve())
    raise ValueError(
        f"backbone must be one of {BACKBONES.names()} or a diffusers-format folder "
        f"(with model_index.json), got {spec!r}"
    )


def generate_params(
    ctx: AppContext,
    method,
    backbone,
    groups,
    per_group,
    seed,
    steps,
    guidance,
    batch_size,
    slot_values=(),
    extra="",
) -> dict:
    """Widget values -> `GenerateConfig` fields (the executor validates them before queuing).

    Values a client sends are checked here too: 1.5 images or a seed of 10^30 are refused, not
    rounded or passed on. The method's own parameters go through the CLI's `--param` path.
    """
    form = method_form(ctx, method)
    defaults = GENERATORS.get(method).default_params
    return {
        "method": method,
        "backbone": check_backbone(backbone),
        "groups": target_groups_for(method, groups),
        "per_group": as_int(per_group, "images per group", 1),
        "seed": as_int(seed, "seed", 0, MAX_SEED),
        "steps": as_int(steps, "steps", 1),
        "guidance": as_float(guidance, "guidance", 0.0),
        "batch_size": as_int(batch_size, "batch size", 1),
        "params": mf.form_params(form, defaults, list(slot_values), extra),
    }


def submit(ctx: AppContext, params: dict) -> tuple:
    """Queue the job, or resume / report an equivalent one (never a duplicate)."""
    submission = ctx.executor.submit_job("generate", params)
    note = {
        "created": f"Queued generation job **{submission.job_id}**.",
        "resumed": f"Resumed generation job **{submission.job_id}** (same settings; "
        "finished batches are kept).",
    }.get(submission.action, submission.describe()[:1].upper() + submission.describe()[1:] + ".")
    return (note,) + poll(ctx, "generate")


# -- the images a job made ----------------------------------------------------------------------
@dataclass
class JobImages:
    """The gallery of one generation job: (thumbnail path, caption) pairs and a line of text."""

    items: list[tuple[str, str]]
    info: str


def shown_job(ctx: AppContext, job_value) -> int | None:
    """The picked job (a generate job), else the newest generation job, else None."""
    job_id = parse_optional_int(job_value, "job id")
    if job_id is None:
        jobs = jobs_of(ctx, "generate", limit=1)
        return jobs[0].id if jobs else None
    if ctx.store.get_job(job_id).kind != "generate":  # KeyError for an unknown id
        raise ValueError(f"job {job_id} is not a generation job")
    return job_id


def statuses(ctx: AppContext, job_id: int) -> dict[int, str]:
    """Curation status of the job's samples that are not pending (three queries, not one each)."""
    out = {}
    for status in ("needs-review", "accepted", "rejected"):
        for sample_id in ctx.store.sample_ids(SampleFilter(job_id=job_id, status=status)):
            out[sample_id] = status
    return out


def job_images(ctx: AppContext, job_value=None) -> JobImages:
    """The newest images of a job, captioned with id, group, curation status and tags."""
    job_id = shown_job(ctx, job_value)
    if job_id is None:
        return JobImages([], "No generation job yet.")
    where = SampleFilter(job_id=job_id)
    total = ctx.store.count_samples(where)
    offset = max(total - GALLERY_LIMIT, 0)
    samples = ctx.store.list_samples(where, limit=GALLERY_LIMIT, offset=offset)[::-1]
    status, tags = statuses(ctx, job_id), ctx.store.tags_for([s.id for s in samples])
    aligned = ctx.aligned_attrs()
    items = []
    for s in samples:  # status first: a tile shows only the start of its caption
        caption = f"{status.get(s.id, 'pending')} · {group_label(ctx.store, s.y, s.a)} · #{s.id}"
        caption += " · conflicting" if aligned.get(s.y) != s.a else " · aligned"
        if tags.get(s.id):
            caption += " · " + ", ".join(tags[s.id])
        items.append((str(thumbnail_path(ctx.store, s, THUMB_SIZE)), caption))
    shown = f"the newest {len(items)}" if total > len(items) else "all"
    info = f"Job **{job_id}**: {total} images ({shown} shown, newest first)."
    return JobImages(items, info if total else f"Job **{job_id}** has no images yet.")


# -- layout and wiring ----------------------------------------------------------------------------
def render(ctx: AppContext) -> TabView:
    first = method_view(ctx, "txt2img")
    with gr.Tab("Generate", id="generate") as tab:
        with gr.Row():
            method = gr.Dropdown(
                GENERATORS.names(), value="txt2img", label="Method", elem_id="generate-method"
            )
            backbone = gr.Dropdown(
                BACKBONES.names(),
                value="embedded",
                label="Backbone",
                info="or type the path of a diffusers-format model folder",
                allow_custom_value=True,
                elem_id="generate-backbone",
            )
        slots, extra = mf.build_widgets(first.form, "generate")
        method_note = gr.Markdown(first.note, elem_id="generate-method-note")
        with gr.Group(visible=first.targets_groups) as group_box:
            with gr.Row():
                pick_buttons = {
                    "all": gr.Button("All", size="sm", elem_id="generate-groups-all"),
                    "none": gr.Button("None", size="sm", elem_id="generate-groups-none"),
                    "conflicting": gr.Button(
                        "Bias-conflicting only", size="sm", elem_id="generate-groups-conflicting"
                    ),
                }
            groups = checked(
                gr.CheckboxGroup(
                    group_choices(ctx.store),
                    value=default_groups(ctx),
                    label="Target groups",
                    info="Bias-conflicting groups are pre-selected; tick at least one.",
                    elem_id="generate-groups",
                )
            )
        with gr.Row():
            per_group = checked(gr.Number(8, label="Images per group", precision=0, minimum=1))
            seed = checked(gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED))
            steps = checked(
                gr.Slider(1, 100, value=first.steps, step=1, precision=0, label="Steps")
            )
            guidance = checked(gr.Slider(0.0, 15.0, value=4.0, step=0.5, label="Guidance"))
            batch_size = checked(gr.Number(8, label="Batch size", precision=0, minimum=1))
        submit_btn = gr.Button("Generate", variant="primary", elem_id="generate-submit")
        note = gr.Markdown(elem_id="generate-note")
        panel = render_jobs(ctx, "generate")
        images_info = gr.Markdown(elem_id="generate-images-info")
        gallery = gr.Gallery(
            label="Images of the job (pick a row above to see another job)",
            columns=8,
            height=420,
            object_fit="contain",
            interactive=False,
            elem_id="generate-gallery",
        )

    inputs = [method, backbone, groups, per_group, seed, steps, guidance, batch_size]

    def show_images(job_value):
        view = job_images(ctx, job_value)
        return view.items, view.info

    def follow_images(job_value):  # after each poll: a bad typed id is reported once, elsewhere
        try:
            return show_images(job_value)
        except (KeyError, ValueError):
            return gr.skip(), gr.skip()

    def refresh():
        return (
            gr.CheckboxGroup(choices=group_choices(ctx.store)),
            *poll(ctx, "generate"),
            *show_images(None),
        )

    refresh_outputs = [groups, *panel.outputs, gallery, images_info]

    @friendly
    def refresh_choices(method):  # opening the tab: runs trained meanwhile become choices
        return mf.choice_updates(method_form(ctx, method))

    @friendly
    def choose_method(method):
        view = method_view(ctx, method)
        return (
            *mf.widget_updates(view.form),
            gr.Slider(value=view.steps),
            gr.Group(visible=view.targets_groups),
            view.note,
        )

    def submit_values(*values):
        n = len(inputs)
        fixed, slot_values, extra_text = values[:n], values[n:-1], values[-1]
        return submit(ctx, generate_params(ctx, *fixed, slot_values, extra_text))

    fixed_names = ["method", "backbone", "groups", "per_group", "seed", "steps", "guidance"]
    do_submit = mf.with_slot_parameters(friendly(submit_values), [*fixed_names, "batch_size"])

    method.input(
        choose_method,
        method,
        [*slots, extra, steps, group_box, method_note],
        api_name="generate_method",
    )
    for which, button in pick_buttons.items():
        button.click(
            lambda which=which: pick_groups(ctx, which),
            None,
            groups,
            api_name=f"generate_groups_{which}",
        )
    submit_btn.click(
        do_submit,
        [*inputs, *slots, extra],
        [note, *panel.outputs],
        api_name="generate_submit",
        **PANEL_EVENT,
        concurrency_limit=1,
    )
    # The gallery follows the job: after every poll while it runs, and when a row is picked.
    panel.polled.then(
        follow_images, panel.job_id, [gallery, images_info], api_name="generate_images_after_poll"
    )
    panel.job_id.change(
        friendly(show_images), panel.job_id, [gallery, images_info], api_name="generate_images"
    )
    tab.select(refresh, None, refresh_outputs, api_name="generate_open", **PANEL_EVENT)
    tab.select(refresh_choices, method, mf.choice_slots(slots), api_name="generate_method_choices")
    return TabView("generate", refresh, refresh_outputs)


if __name__ == "__main__":
    from ui.launch import run_tab

    run_tab("Generate", render)
