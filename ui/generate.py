"""Generate tab: pick a method, a backbone and target groups; launch a persisted generation job.

Methods and backbones come from the registries, so a newly registered method shows up here with
no UI change. Run alone: python -m ui.generate --project DIR
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from debias_core.generate import GENERATORS
from debias_core.models.backbone import BACKBONES
from ui.common import TabView, friendly, group_choices, parse_group
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
    """Widget values -> `GenerateConfig` fields (the executor validates them before queuing)."""
    return {
        "method": method,
        "backbone": check_backbone(backbone),
        "groups": [list(parse_group(g)) for g in groups or []],
        "per_group": int(per_group),
        "seed": int(seed),
        "steps": int(steps),
        "guidance": float(guidance),
        "batch_size": int(batch_size),
    }


def submit(ctx: AppContext, params: dict) -> tuple:
    job_id = ctx.executor.submit("generate", params)
    return (f"Queued generation job **{job_id}**.",) + poll(ctx, "generate")


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
        groups = gr.CheckboxGroup(
            group_choices(ctx.store),
            value=default_groups(ctx),
            label="Target groups",
            info="Bias-conflicting groups are pre-selected; none selected = every group.",
            elem_id="generate-groups",
        )
        with gr.Row():
            per_group = gr.Number(8, label="Images per group", precision=0, minimum=1)
            seed = gr.Number(0, label="Seed", precision=0)
            steps = gr.Slider(1, 100, value=20, step=1, label="Steps")
            guidance = gr.Slider(0.0, 15.0, value=4.0, step=0.5, label="Guidance")
            batch_size = gr.Number(8, label="Batch size", precision=0, minimum=1)
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
