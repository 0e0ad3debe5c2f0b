"""The Train & Evaluate tab's demo comparison: one click queues a `compare` job (generate, then
ERM and the generated-data pipeline per seed, see debias_core.jobs.comparison) and the view
shows both runs' accuracy per group with whiskers, their worst groups side by side and the lift
with its interval. The section's widgets are built inside the tab by `render_comparison`.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from debias_core.jobs.comparison import DEMO, MAX_SEEDS, comparison_of_job
from debias_core.limits import MAX_EPOCHS, MAX_SEED
from debias_core.train.image_augment import IMAGE_AUGMENTATIONS
from ui.common import as_int, checked, friendly, parse_optional_int
from ui.jobs import PANEL_EVENT, JobsPanel, poll, render_jobs
from ui.state import AppContext

KIND = "compare"
INTRO = (
    "**Demo comparison** — one click generates {per_group} `{generator}` images per group, then "
    "trains **ERM on real data** and **real + those images with {method} ({stage2} second "
    "stage)**, `{arch}`, {epochs} epochs, {augment} augmentation of both sides' training "
    "images, and shows both worst groups with their 95% intervals. "
    "Measured: 3.3 CPU minutes with one thread per job (bench/RESULTS.md, issue 16); more "
    "seeds add two training runs each and give a lift paired by seed."
)


def parse_seeds(text) -> list[int]:
    """'0, 1, 2' -> [0, 1, 2]: whole numbers in the seed range, 1 to MAX_SEEDS of them."""
    parts = [p for p in str(text or "").replace(" ", "").split(",") if p]
    if not parts:
        raise ValueError("seeds: type one or more training seeds, e.g. 0 or 0,1,2")
    if len(parts) > MAX_SEEDS:
        raise ValueError(f"seeds: at most {MAX_SEEDS}, got {len(parts)}")
    return [as_int(p, "a seed", 0, MAX_SEED) for p in parts]


def comparison_params(per_group, epochs, seeds, augment=None) -> dict:
    """The preset with what the section lets a user change: sizes, seeds, augmentation."""
    return {
        "per_group": as_int(per_group, "images per group", 1),
        "epochs": as_int(epochs, "epochs", 1, MAX_EPOCHS),
        "seeds": parse_seeds(seeds),
        "augment": augment or DEMO.augment,
    }


def finished_comparisons(ctx: AppContext) -> list[tuple[str, str]]:
    jobs = [j for j in ctx.store.list_jobs(limit=200) if j.kind == KIND and j.status == "done"]
    return [(f"job {j.id}: {j.message}"[:160], str(j.id)) for j in jobs]


def comparison_view(ctx: AppContext, job) -> tuple[str, object]:
    """(markdown: worst groups side by side and the lift, figure: per-group bars with whiskers)."""
    from debias_core.analysis.comparison_figure import side_by_side_groups
    from debias_core.evaluate.report import EvalReport

    job_id = parse_optional_int(job, "comparison job")
    if job_id is None:
        return "No finished comparison yet: press **Run demo comparison**.", None
    config, summary = comparison_of_job(ctx.store, job_id)

    def first_run(side):
        return side.label, EvalReport.from_dict(ctx.store.get_run(side.run_ids[0]).metrics["test"])

    seed_note = f" (seed {config.seeds[0]} of {len(config.seeds)})" * (len(config.seeds) > 1)
    figure = side_by_side_groups(
        first_run(summary.baseline),
        first_run(summary.method),
        f"Test accuracy per group{seed_note}: worst groups of the baseline on top",
    )
    return summary.markdown(), figure


@dataclass
class ComparisonSection:
    panel: JobsPanel
    choice: gr.Dropdown
    summary: gr.Markdown
    plot: gr.Plot

    @property
    def outputs(self) -> list:
        return [*self.panel.outputs, self.choice, self.summary, self.plot]


def render_comparison(ctx: AppContext) -> tuple[ComparisonSection, callable]:
    """The section's widgets and wiring; returns it and its refresh (page load, tab open)."""
    stage2 = DEMO.method_params.get("stage2", "erm")
    with gr.Accordion("Demo comparison: ERM next to a generated-data pipeline", open=True):
        gr.Markdown(
            INTRO.format(
                per_group=DEMO.per_group,
                generator=DEMO.generator,
                method=DEMO.method,
                stage2=stage2,
                arch=DEMO.arch,
                epochs=DEMO.epochs,
                augment=DEMO.augment,
            )  # fmt: skip
        )
        with gr.Row():
            per_group = checked(gr.Number(
                DEMO.per_group, label="Images per group", precision=0, minimum=1,
                elem_id="compare-per-group",
            ))  # fmt: skip
            epochs = checked(gr.Number(
                DEMO.epochs, label="Epochs", precision=0, minimum=1, maximum=MAX_EPOCHS,
                elem_id="compare-epochs",
            ))  # fmt: skip
            seeds = gr.Textbox(
                ",".join(map(str, DEMO.seeds)), label="Training seeds", elem_id="compare-seeds"
            )
            augment = gr.Dropdown(
                IMAGE_AUGMENTATIONS.names(),
                value=DEMO.augment,
                label="Augmentation (both sides)",
                elem_id="compare-augment",
            )
        submit_btn = gr.Button("Run demo comparison", variant="primary", elem_id="compare-submit")
        note = gr.Markdown(elem_id="compare-note")
        panel = render_jobs(ctx, KIND)
        choice = gr.Dropdown([], label="Comparison to show", elem_id="compare-job")
        summary = gr.Markdown(elem_id="compare-summary")
        plot = gr.Plot(label="Accuracy per group, side by side", elem_id="compare-plot")
    section = ComparisonSection(panel, choice, summary, plot)

    def view(job=None):
        choices = finished_comparisons(ctx)
        job = job or (choices[0][1] if choices else None)
        text, figure = comparison_view(ctx, job)
        return gr.Dropdown(choices=choices, value=job), text, figure

    def view_after_poll(current):
        """A new finished comparison is shown at once; the same one is not redrawn every tick."""
        choices = finished_comparisons(ctx)
        newest = choices[0][1] if choices else None
        if newest == (current or None):
            return gr.Dropdown(choices=choices), gr.skip(), gr.skip()
        return view(newest)

    def refresh():
        return (*poll(ctx, KIND), *view())

    @friendly
    def do_submit(per_group, epochs, seeds, augment=None):
        job_id = ctx.executor.submit(KIND, comparison_params(per_group, epochs, seeds, augment))
        return (f"Queued comparison job **{job_id}**.", *poll(ctx, KIND))

    @friendly
    def show(job):
        return comparison_view(ctx, job)

    submit_btn.click(
        do_submit,
        [per_group, epochs, seeds, augment],
        [note, *panel.outputs],
        api_name="compare_submit",
        concurrency_limit=1,
        **PANEL_EVENT,
    )
    # After each poll, so a comparison that just finished is shown at once.
    panel.polled.then(
        view_after_poll, choice, [choice, summary, plot], api_name="compare_after_poll"
    )
    choice.input(show, choice, [summary, plot], api_name="compare_show")
    return section, refresh
