"""Personalize tab: learn tokens / LoRAs as a job, watch the loss, preview what each concept draws.

Methods come from the PERSONALIZERS registry and their parameters from each method's dataclass
(shown as editable `key = value` lines), so a new method needs no UI change.
Run alone: python -m ui.personalize --project DIR
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import gradio as gr
import numpy as np

from debias_core.ids import parse_ids
from debias_core.models.backbone import BACKBONES
from debias_core.personalize import PERSONALIZERS
from debias_core.personalize.base import accepted_targets
from ui.common import (
    MAX_SEED,
    TabView,
    as_int,
    checked,
    friendly,
    group_choices,
    parse_group,
    parse_optional_int,
)
from ui.jobs import PANEL_EVENT, jobs_of, poll, render_jobs
from ui.state import AppContext

KIND = "personalize"
TARGETS = ["classes", "groups", "samples", "selection"]  # selection: the Embeddings lasso's
ARTIFACT_HEADERS = [
    "id", "kind", "scope", "method", "concept", "name", "samples", "final loss", "job",
    "sha256", "created",
]  # fmt: skip
ZOOM = 4  # the embedded model draws 32 px images: show them 4x, pixelated


def check_backbone(spec: str | None) -> str:
    """A registered backbone name, or a diffusers-format folder typed into the dropdown."""
    if spec is not None and not isinstance(spec, str):
        raise ValueError(f"backbone must be a name or a folder path, got {spec!r}")
    spec = (spec or "").strip()
    if spec in BACKBONES.names():
        return spec
    if spec and (Path(spec).expanduser() / "model_index.json").is_file():
        return str(Path(spec).expanduser().resolve())
    raise ValueError(f"backbone must be one of {BACKBONES.names()} or a diffusers folder path")


# -- parameters ---------------------------------------------------------------------------------
def default_params_text(method: str) -> str:
    """The method's parameters and defaults as editable `key = value` lines."""
    if not isinstance(method, str):
        raise ValueError(f"method must be one of {PERSONALIZERS.names()}, got {method!r}")
    cls = PERSONALIZERS.get(method).params_class
    lines = []
    for f in fields(cls):
        value = f.default
        text = " | ".join(value) if isinstance(value, tuple) else str(value)
        lines.append(f"{f.name} = {text}")
    return "\n".join(lines)


def parse_params_text(method: str, text: str) -> dict:
    """Only the lines that differ from the defaults become job parameters."""
    defaults = dict(_pairs(default_params_text(method)))
    return {k: v for k, v in _pairs(text or "") if defaults.get(k) != v}


def _pairs(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        if not line.strip() or line.strip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"a parameter line is `key = value`, got {line.strip()!r}")
        out.append((key.strip(), value.strip()))
    return out


def parse_sample_ids(text: str) -> list[int]:
    if not str(text or "").replace(",", " ").strip():
        return []  # the caller says "type the ids"
    return parse_ids(text, "sample id", "12,40,41")


def target_choices(method: str) -> list[str]:
    """The Targets the method declares it accepts; "selection" is a list of samples."""
    if not isinstance(method, str):
        raise ValueError(f"method must be one of {PERSONALIZERS.names()}, got {method!r}")
    accepted = accepted_targets(method)
    return [t for t in TARGETS if t in accepted or (t == "selection" and "samples" in accepted)]


def target_widgets(method: str, target: str) -> tuple:
    """(Targets radio, Classes box, Groups box, Sample ids box): only the method's targets
    are offered, and only the box of the chosen one is shown."""
    choices = target_choices(method)
    target = target if target in choices else choices[0]
    return (
        gr.Radio(choices=choices, value=target),
        gr.CheckboxGroup(visible=target == "classes"),
        gr.CheckboxGroup(visible=target == "groups"),
        gr.Textbox(visible=target == "samples"),
    )


def personalize_params(
    method, backbone, target, classes, groups, samples, steps, batch, seed, params_text,
    selection=(),
) -> dict:  # fmt: skip
    """Widget values -> PersonalizeConfig fields (the executor validates before queuing).

    `selection`: the ids of the person's current selection (another tab's grid), used when the
    target is "selection".
    """
    if target not in TARGETS:
        raise ValueError(f"targets must be one of {TARGETS}, got {target!r}")
    if target not in target_choices(method):
        raise ValueError(f"{method} takes as targets: {', '.join(target_choices(method))}")
    chosen = {
        "classes": lambda: {"classes": [as_int(c, "class") for c in classes or []]},
        "groups": lambda: {"groups": [list(parse_group(g)) for g in groups or []]},
        "samples": lambda: {"samples": parse_sample_ids(samples)},
        "selection": lambda: {"samples": list(selection)},
    }[target]()
    if target == "samples" and not chosen["samples"]:
        raise ValueError("type the ids of the samples to personalize")
    if target == "selection" and not chosen["samples"]:
        raise ValueError(
            "the current selection is empty: lasso or type ids in the Embeddings tab first"
        )
    return {
        "method": method,
        "backbone": check_backbone(backbone),
        "steps": as_int(steps, "steps", 1),
        "batch": as_int(batch, "concepts per step", 1),
        "seed": as_int(seed, "seed", 0, MAX_SEED),
        "params": parse_params_text(method, params_text),
        **chosen,
    }


def selection_text(ids) -> str:
    """One line about the current selection the "selection" target would train on."""
    if not ids:
        return "Current selection: none (lasso or type ids in the Embeddings tab)."
    shown = ", ".join(f"#{i}" for i in ids[:8]) + (", ..." if len(ids) > 8 else "")
    return f"Current selection: **{len(ids)}** samples ({shown})."


def submit(ctx: AppContext, params: dict) -> tuple:
    job_id = ctx.executor.submit(KIND, params)
    return (f"Queued personalization job **{job_id}**.",) + poll(ctx, KIND)


# -- loss curve ---------------------------------------------------------------------------------
def newest_job_id(ctx: AppContext) -> int | None:
    jobs = jobs_of(ctx, KIND, limit=1)
    return jobs[0].id if jobs else None


def loss_figure(ctx: AppContext, job_value=None):
    """Per-chunk mean loss of each work unit of a job (the newest job by default)."""
    import plotly.graph_objects as go

    from debias_core.personalize.runner import read_loss_log

    job_id = parse_optional_int(job_value, "job id") or newest_job_id(ctx)
    figure = go.Figure()
    figure.update_layout(
        title=f"Job {job_id}: training loss" if job_id else "No personalization job yet",
        xaxis_title="step",
        yaxis_title="loss (mean over the unit's concepts)",
        height=320,
        margin={"l": 50, "r": 20, "t": 40, "b": 40},
    )
    records = read_loss_log(ctx.store, job_id) if job_id else []
    for unit in dict.fromkeys(r["unit"] for r in records):
        rows = [r for r in records if r["unit"] == unit]
        means = [sum(r["losses"].values()) / len(r["losses"]) for r in rows]
        figure.add_scatter(x=[r["step"] for r in rows], y=means, mode="lines+markers", name=unit)
    return figure


# -- previews -----------------------------------------------------------------------------------
@dataclass
class PreviewView:
    """What the preview panel shows: captioned images and a line of text."""

    items: list[tuple[np.ndarray, str]]
    text: str


def _zoom(image: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(image, ZOOM, axis=0), ZOOM, axis=1)


def heat(values: np.ndarray) -> np.ndarray:
    """A (H, W) map in [0, 1] as a black-red-yellow-white uint8 image."""
    m = np.clip(values, 0, 1)
    rgb = np.stack([np.clip(3 * m, 0, 1), np.clip(3 * m - 1, 0, 1), np.clip(3 * m - 2, 0, 1)], -1)
    return (rgb * 255).round().astype(np.uint8)


def preview_view(ctx: AppContext, job_value, concept: str | None) -> PreviewView:
    from debias_core.models.cache import cached_backbone
    from debias_core.personalize.preview import concept_preview

    job_id = parse_optional_int(job_value, "job id")
    if job_id is None or not concept:
        raise ValueError("pick a finished personalization job and one of its concepts")
    spec = ctx.store.get_job(job_id).params.get("backbone", "embedded")
    p = concept_preview(ctx.store, job_id, concept, cached_backbone(spec, ctx.device))
    items = [(_zoom(img), f"source {k + 1}") for k, img in enumerate(p.sources)]
    items.append((_zoom(p.reconstruction), "reconstruction"))
    for token, attention in p.attention.items():
        items.append((_zoom(heat(attention)), f"attention of {token}"))
        if token in p.masks:
            items.append((_zoom(heat(p.masks[token])), f"mask of {token}"))
    text = f"**{p.method}** · concept `{p.concept}` · prompt: `{p.prompt}`"
    text += f" · artifacts {p.artifact_ids}"
    return PreviewView(items, text)


def concept_choices(ctx: AppContext, job_value) -> list[str]:
    from debias_core.personalize.preview import concept_keys

    job_id = parse_optional_int(job_value, "job id")
    return concept_keys(ctx.store, job_id) if job_id is not None else []


def job_choices(ctx: AppContext) -> list[tuple[str, str]]:
    return [
        (f"#{j.id} {j.params.get('method', '?')} ({j.status})", str(j.id))
        for j in jobs_of(ctx, KIND)
        if j.units_done
    ]


# -- artifacts ------------------------------------------------------------------------------------
def artifact_rows(ctx: AppContext) -> list[list]:
    rows = []
    for a in reversed(ctx.store.list_artifacts()):
        loss = f"{a.loss_curve[-1]:.4f}" if a.loss_curve else ""
        rows.append(
            [
                a.id,
                a.kind,
                a.scope,
                a.method,
                a.concept,
                a.name,
                len(a.sample_ids),
                loss,
                a.job_id,
                a.sha256[:12],
                a.created_at[:19].replace("T", " "),
            ]  # fmt: skip
        )
    return rows


# -- layout and wiring ----------------------------------------------------------------------------
def render(ctx: AppContext) -> TabView:
    classes = [(name, str(y)) for y, name in enumerate(ctx.store.class_names)]
    methods = PERSONALIZERS.names()
    with gr.Tab("Personalize", id="personalize") as tab:
        with gr.Row():
            method = gr.Dropdown(
                methods, value="textual-inversion", label="Method", elem_id="pers-method"
            )
            backbone = gr.Dropdown(
                BACKBONES.names(),
                value="embedded",
                label="Backbone",
                allow_custom_value=True,
                elem_id="pers-backbone",
            )
            steps = checked(
                gr.Number(200, label="Steps", precision=0, minimum=1, elem_id="pers-steps")
            )
            batch = checked(
                gr.Number(
                    16, label="Concepts per step", precision=0, minimum=1, elem_id="pers-batch"
                )
            )
            seed = checked(
                gr.Number(
                    0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED, elem_id="pers-seed"
                )
            )
        with gr.Row(equal_height=True):
            target = gr.Radio(  # every kind valid; opening the tab narrows it to the method's
                TARGETS,
                value="classes",
                label="Targets",
                elem_id="pers-target",
                scale=2,
            )
            selection_note = gr.Markdown(selection_text(()), elem_id="pers-selection")
        class_box = checked(gr.CheckboxGroup(classes, label="Classes", elem_id="pers-classes"))
        group_box = checked(
            gr.CheckboxGroup(
                group_choices(ctx.store), label="Groups", elem_id="pers-groups", visible=False
            )
        )
        sample_box = gr.Textbox(
            label="Sample ids", placeholder="e.g. 12, 40, 41", elem_id="pers-samples", visible=False
        )
        params = gr.Textbox(
            default_params_text("textual-inversion"),
            lines=6,
            label="Method parameters (key = value)",
            elem_id="pers-params",
        )
        submit_btn = gr.Button("Personalize", variant="primary", elem_id="pers-submit")
        note = gr.Markdown(elem_id="pers-note")
        panel = render_jobs(ctx, KIND)
        loss_plot = gr.Plot(label="Loss", elem_id="pers-loss")
        with gr.Row():
            job_pick = gr.Dropdown([], label="Job", elem_id="pers-job")
            concept_pick = gr.Dropdown([], label="Concept", elem_id="pers-concept")
            preview_btn = gr.Button("Preview concept", elem_id="pers-preview-btn")
        preview_text = gr.Markdown(elem_id="pers-preview-text")
        preview = gr.Gallery(columns=8, height=220, label="Preview", elem_id="pers-preview")
        artifacts = gr.Dataframe(
            headers=ARTIFACT_HEADERS,
            value=[],
            interactive=False,
            label="Artifacts (learned files and what they came from)",
            elem_id="pers-artifacts",
        )

    inputs = [method, backbone, target, class_box, group_box, sample_box, steps, batch, seed]

    def after_poll():
        return loss_figure(ctx), gr.Dropdown(choices=job_choices(ctx)), artifact_rows(ctx)

    def refresh():
        return (*poll(ctx, KIND), *after_poll())

    @friendly
    def do_submit(
        method, backbone, target, classes, groups, samples, steps, batch, seed, params_text,
        request: gr.Request,
    ):  # fmt: skip
        selection = ctx.selection_of(ctx.reviewer_for(request))
        values = (method, backbone, target, classes, groups, samples, steps, batch, seed)
        return submit(ctx, personalize_params(*values, params_text, selection))

    def show_selection(request: gr.Request):
        return selection_text(ctx.selection_of(ctx.reviewer_for(request)))

    @friendly
    def do_preview(job_value, concept):
        view = preview_view(ctx, job_value, concept)
        return view.items, view.text

    @friendly
    def pick_job(job_value):
        return gr.Dropdown(choices=concept_choices(ctx, job_value), value=None), loss_figure(
            ctx, job_value
        )

    after_outputs = [loss_plot, job_pick, artifacts]
    submit_btn.click(
        do_submit,
        [*inputs, params],
        [note, *panel.outputs],
        api_name="personalize_submit",
        **PANEL_EVENT,
        concurrency_limit=1,
    )
    method.input(
        friendly(default_params_text), method, params, api_name="personalize_method_params"
    )
    gr.on(
        [tab.select, method.input, target.input],
        friendly(target_widgets),
        [method, target],
        [target, class_box, group_box, sample_box],
        api_name="personalize_targets",
        show_progress="hidden",
        # "once" (the default) drops a method change that arrives while the tab's own narrowing
        # is still running (seen under load): the boxes then showed the previous method's targets
        trigger_mode="always_last",
    )
    panel.polled.then(after_poll, None, after_outputs, api_name="personalize_after_poll")
    job_pick.input(pick_job, job_pick, [concept_pick, loss_plot], api_name="personalize_job")
    preview_btn.click(
        do_preview,
        [job_pick, concept_pick],
        [preview, preview_text],
        api_name="personalize_preview",
        concurrency_id="gpu",
        concurrency_limit=1,
    )
    tab.select(
        refresh, None, [*panel.outputs, *after_outputs], api_name="personalize_open", **PANEL_EVENT
    )
    gr.on(
        [tab.select, target.input],
        show_selection,
        None,
        selection_note,
        api_name="personalize_selection",
        show_progress="hidden",
    )
    return TabView(KIND, refresh, [*panel.outputs, *after_outputs])


if __name__ == "__main__":
    from ui.launch import run_tab

    run_tab("Personalize", render)
