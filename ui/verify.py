"""Verify tab: run a verification policy over generated samples, and a segmenter for masks, as
persisted jobs (the same jobs as `python -m debias_core verify` / `masks`).

Policies and segmenters come from their registries, their widgets from their parameter
dataclasses (ui/method_form.py), so a newly registered one shows up here with no UI change. A
policy's verdicts are decisions by `policy:<name>`; a person's decision in Review outranks them.
Run alone: python -m ui.verify --project DIR
"""

from __future__ import annotations

import gradio as gr

from debias_core.generate import GENERATORS
from debias_core.models.segmenters import SEGMENTERS
from debias_core.verify.base import POLICIES
from ui import method_form as mf
from ui.common import TabView, friendly, parse_optional_int
from ui.jobs import PANEL_EVENT, poll, render_jobs
from ui.state import AppContext

ANY_METHOD = "(any method)"
SOURCES = ("real", "generated")


def policy_form(ctx: AppContext, policy) -> mf.MethodForm:
    if not isinstance(policy, str):
        raise ValueError(f"policy must be one of {POLICIES.names()}, got {policy!r}")
    return mf.method_form(ctx.store, policy, POLICIES.get(policy).default_params)


def segmenter_form(ctx: AppContext, segmenter) -> mf.MethodForm:
    if not isinstance(segmenter, str):
        raise ValueError(f"segmenter must be one of {SEGMENTERS.names()}, got {segmenter!r}")
    return mf.method_form(ctx.store, segmenter, SEGMENTERS.get(segmenter).default_params)


def method_choices(ctx: AppContext) -> list[str]:
    """The generation methods of the project's generation jobs (the samples a policy can judge)."""
    jobs = ctx.store.list_jobs(limit=500)
    methods = {j.params.get("method") for j in jobs if j.kind == "generate"}
    return [ANY_METHOD, *sorted(m for m in methods if isinstance(m, str))]


def verify_params(ctx: AppContext, policy, method, job, slot_values, extra) -> dict:
    """Widget values -> `VerifyConfig` fields (the executor validates them before queuing)."""
    if method not in (None, "", ANY_METHOD, *GENERATORS.names()):
        raise ValueError(f"samples of: a generation method {GENERATORS.names()}, got {method!r}")
    form = policy_form(ctx, policy)
    defaults = POLICIES.get(policy).default_params
    return {
        "policy": policy,
        "params": mf.form_params(form, defaults, list(slot_values), extra),
        "method": None if method in (None, "", ANY_METHOD) else method,
        "job": parse_optional_int(job, "generation job id"),
    }


def segment_params(ctx: AppContext, segmenter, prompt, source, slot_values, extra) -> dict:
    """Widget values -> `SegmentConfig` fields (masks of that source's train samples)."""
    if source not in SOURCES:
        raise ValueError(f"samples must be one of {list(SOURCES)}, got {source!r}")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("the text prompt is empty: e.g. {class} (the sample's class name)")
    form = segmenter_form(ctx, segmenter)
    defaults = SEGMENTERS.get(segmenter).default_params
    return {
        "segmenter": segmenter,
        "prompt": prompt.strip(),
        "params": mf.form_params(form, defaults, list(slot_values), extra),
        "source": source,
        "split": "train" if source == "real" else None,
    }


def cooccurrence_view(ctx: AppContext, status) -> tuple:
    """The co-occurrence figure (original vs augmented) and a one-line note (multi-label)."""
    from debias_core.analysis.cooccurrence import cooccurrence, cooccurrence_figure

    table = cooccurrence(ctx.store, status=status)
    which = "accepted generated" if status == "accepted" else "generated (any status)"
    note = f"{len(table.objects)} biased objects; the augmented set adds {table.generated} {which}"
    return cooccurrence_figure(table), note + " images with label sets"


def submit(ctx: AppContext, kind: str, params: dict) -> tuple:
    """Queue the job, or resume / report an equivalent one (never a duplicate)."""
    submission = ctx.executor.submit_job(kind, params)
    described = submission.describe()
    note = f"{kind} job **{submission.job_id}**: {described[:1].upper() + described[1:]}."
    return (note,) + poll(ctx, kind)


# -- layout and wiring ----------------------------------------------------------------------------
def render(ctx: AppContext) -> TabView:
    first_policy = POLICIES.names()[0] if "judge" not in POLICIES else "judge"
    first_segmenter = "dataset" if "dataset" in SEGMENTERS else SEGMENTERS.names()[0]
    with gr.Tab("Verify", id="verify") as tab:
        gr.Markdown(
            "A **policy** scores generated samples and records accept / reject / needs-review "
            "as its own decisions; a person's decision in Review always outranks it."
        )
        with gr.Row():
            policy = gr.Dropdown(
                POLICIES.names(), value=first_policy, label="Policy", elem_id="verify-policy"
            )
            method = gr.Dropdown(
                method_choices(ctx),
                value=ANY_METHOD,
                label="Samples of",
                allow_custom_value=True,  # methods used since the page loaded are valid too
                elem_id="verify-method",
            )
            job = gr.Textbox(label="or only generation job", placeholder="job id (optional)")
        policy_slots, policy_extra = mf.build_widgets(policy_form(ctx, first_policy), "verify")
        verify_btn = gr.Button("Verify", variant="primary", elem_id="verify-submit")
        verify_note = gr.Markdown(elem_id="verify-note")
        verify_panel = render_jobs(ctx, "verify")
        with gr.Accordion("Masks (segmenters)", open=False):
            with gr.Row():
                segmenter = gr.Dropdown(
                    SEGMENTERS.names(),
                    value=first_segmenter,
                    label="Segmenter",
                    elem_id="segment-segmenter",
                )
                prompt = gr.Textbox("{class}", label="Text prompt", info="{class}: the class name")
                source = gr.Radio(list(SOURCES), value="real", label="Samples")
            seg_form = segmenter_form(ctx, first_segmenter)
            seg_slots, seg_extra = mf.build_widgets(seg_form, "segment")
            segment_btn = gr.Button("Make masks", elem_id="segment-submit")
            segment_note = gr.Markdown(elem_id="segment-note")
            segment_panel = render_jobs(ctx, "segment")
        with gr.Accordion("Co-occurrence shift (multi-label projects)", open=False):
            gr.Markdown(
                "P(context | biased object) of the real train set next to the augmented set "
                "(DecoupleGen's Figure 6): which co-occurrences the generated images removed "
                "and which they introduced. Same as `python -m debias_core cooccurrence DIR`."
            )
            with gr.Row():
                co_status = gr.Radio(
                    ["accepted", "all"], value="accepted", label="Generated images counted"
                )
                co_btn = gr.Button("Show co-occurrence", elem_id="cooccurrence-show")
            co_plot = gr.Plot(show_label=False, elem_id="cooccurrence-plot")
            co_note = gr.Markdown(elem_id="cooccurrence-note")

    def refresh():
        return (gr.Dropdown(choices=method_choices(ctx)), *poll(ctx, "verify"))

    refresh_outputs = [method, *verify_panel.outputs]

    @friendly
    def choose_policy(name):
        return tuple(mf.widget_updates(policy_form(ctx, name)))

    @friendly
    def choose_segmenter(name):
        return tuple(mf.widget_updates(segmenter_form(ctx, name)))

    def verify_values(policy, method, job, *rest):
        return submit(ctx, "verify", verify_params(ctx, policy, method, job, rest[:-1], rest[-1]))

    def segment_values(segmenter, prompt, source, *rest):
        params = segment_params(ctx, segmenter, prompt, source, rest[:-1], rest[-1])
        return submit(ctx, "segment", params)

    do_verify = mf.with_slot_parameters(friendly(verify_values), ["policy", "method", "job"])
    do_segment = mf.with_slot_parameters(
        friendly(segment_values), ["segmenter", "prompt", "source"]
    )
    policy.input(choose_policy, policy, [*policy_slots, policy_extra], api_name="verify_policy")
    segmenter.input(
        choose_segmenter, segmenter, [*seg_slots, seg_extra], api_name="segment_segmenter"
    )
    verify_btn.click(
        do_verify,
        [policy, method, job, *policy_slots, policy_extra],
        [verify_note, *verify_panel.outputs],
        api_name="verify_submit",
        **PANEL_EVENT,
        concurrency_limit=1,
    )
    segment_btn.click(
        do_segment,
        [segmenter, prompt, source, *seg_slots, seg_extra],
        [segment_note, *segment_panel.outputs],
        api_name="segment_submit",
        **PANEL_EVENT,
        concurrency_limit=1,
    )
    co_btn.click(
        friendly(lambda status: cooccurrence_view(ctx, status)),
        co_status,
        [co_plot, co_note],
        api_name="verify_cooccurrence",
    )
    tab.select(refresh, None, refresh_outputs, api_name="verify_open", **PANEL_EVENT)
    return TabView("verify", refresh, refresh_outputs)


if __name__ == "__main__":
    from ui.launch import run_tab

    run_tab("Verify", render)
