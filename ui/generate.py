"""Generate tab: pick a method, a backbone and target groups; launch a persisted generation job.

Methods and backbones come from the registries, so a newly registered method shows up here with
no UI change. Run alone: python -m ui.generate --project DIR
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from debias_core.generate import GENERATORS
from debias_core.models.backbone import BACKBONES
from ui.common import (
    MAX_SEED,
    TabView,
    as_float,
    as_int,
    checked,
    friendly,
    group_choices,
    parse_group,
)
from ui.jobs import poll, render_jobs
from ui.state import AppContext


def default_groups(ctx: AppContext) -> list[str]:
    """The bias-conflicting groups: the ones counterfactuals are for."""
    aligned = ctx.store.aligned_attrs()
    return [
        v
        for _, v in group_choices(ctx.store)
        if aligned.get(parse_group(v)[0]) != parse_group(v)[1]
    ]


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


def generate_params(method, backbone, groups, per_group, seed, steps, guidance, batch_size) -> dict:
    """Widget values -> `GenerateConfig` fields (the executor validates them before queuing).

    Values a client sends are checked here too: 1.5 images or a seed of 10^30 are refused, not
    rounded or passed on.
    """
    return {
        "method": method,
        "backbone": check_backbone(backbone),
        "groups": [list(parse_group(g)) for g in groups or []],
        "per_group": as_int(per_group, "images per group", 1),
        "seed": as_int(seed, "seed", 0, MAX_SEED),
        "steps": as_int(steps, "steps", 1),
        "guidance": as_float(guidance, "guidance", 0.0),
        "batch_size": as_int(batch_size, "batch size", 1),
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


def render(ctx: AppContext) -> TabView:
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
        groups = checked(
            gr.CheckboxGroup(
                group_choices(ctx.store),
                value=default_groups(ctx),
                label="Target groups",
                info="Bias-conflicting groups are pre-selected; none selected = every group.",
                elem_id="generate-groups",
            )
        )
        with gr.Row():
            per_group = checked(gr.Number(8, label="Images per group", precision=0, minimum=1))
            seed = checked(gr.Number(0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED))
            steps = checked(gr.Slider(1, 100, value=20, step=1, precision=0, label="Steps"))
            guidance = checked(gr.Slider(0.0, 15.0, value=4.0, step=0.5, label="Guidance"))
            batch_size = checked(gr.Number(8, label="Batch size", precision=0, minimum=1))
        submit_btn = gr.Button("Generate", variant="primary", elem_id="generate-submit")
        note = gr.Markdown(elem_id="generate-note")
        panel = render_jobs(ctx, "generate")

    inputs = [method, backbone, groups, per_group, seed, steps, guidance, batch_size]

    def refresh():
        return (gr.CheckboxGroup(choices=group_choices(ctx.store)), *poll(ctx, "generate"))

    refresh_outputs = [groups, *panel.outputs]

    @friendly
    def do_submit(method, backbone, groups, per_group, seed, steps, guidance, batch_size):
        params = generate_params(
            method, backbone, groups, per_group, seed, steps, guidance, batch_size
        )
        return submit(ctx, params)

    submit_btn.click(
        do_submit,
        inputs,
        [note, *panel.outputs],
        api_name="generate_submit",
        concurrency_limit=1,
    )
    tab.select(refresh, None, refresh_outputs, api_name="generate_open")
    return TabView("generate", refresh, refresh_outputs)


if __name__ == "__main__":
    from ui.launch import run_tab

    run_tab("Generate", render)
