"""Train & Evaluate tab: launch a training job, read the runs table, plot and compare reports.

Run alone: python -m ui.train_eval --project DIR
"""

from __future__ import annotations

import gradio as gr

from debias_core.evaluate.compare import (
    interval_fields,
    method_label,
    runs_table,
    standard_run,
)
from debias_core.evaluate.multilabel import SUMMARIES, SUMMARY_TITLES
from debias_core.evaluate.report import EvalReport
from debias_core.models.classifiers import CLASSIFIERS, DEFAULT_ARCH
from debias_core.train import TRAIN_METHODS
from debias_core.train.image_augment import IMAGE_AUGMENTATIONS
from ui.common import (
    MAX_SEED,
    TabView,
    as_int,
    checked,
    friendly,
    parse_optional_int,
    run_choices,
    run_data,
)
from ui.jobs import PANEL_EVENT, poll, render_jobs
from ui.state import AppContext
from ui.train_compare import render_comparison

DATA_CHOICES = [
    ("real only", "none"),
    ("real + accepted generated", "accepted"),
    ("real + all generated", "all"),
    ("two-stage: generated, then real (ffr)", "two-stage"),
]
MAX_EPOCHS = 10_000  # a typo guard: an epoch count past this is not a real request
RUN_HEADERS = [
    "run", "method", "data", "seed", "epochs", "status",
    "worst group [95%]", "worst n", "worst class [95%]", "average", "balanced", "aligned",
    "conflicting", "finished",
]  # fmt: skip


ML_HEADERS = [
    "run", "method", "seed",
    *(f"{SUMMARY_TITLES[n]} [95%] (standard)" for n in SUMMARIES),
    "mean bias score (standard)", "standard run",
]  # fmt: skip


def second_stages() -> set[str]:
    """Methods ffr can run as its real-data stage (its objectives and procedures)."""
    from debias_core.train.common import OBJECTIVES, PROCEDURES

    return set(OBJECTIVES.names()) | set(PROCEDURES.names())


def train_params(
    method: str,
    data: str,
    arch: str,
    seed,
    epochs,
    source="any",
    keep_disputed=False,
    augment="none",
) -> dict:
    """Widget values -> TrainConfig fields; 'two-stage' is ffr with the chosen method second."""
    from debias_core.train.variants import source_from_key

    common = {
        "arch": arch,
        "augment": augment or "none",
        "seed": as_int(seed, "seed", 0, MAX_SEED),
        "epochs": as_int(epochs, "epochs", 1, MAX_EPOCHS),
    } | source_from_key(source).config_fields()
    if bool(keep_disputed):  # else generated images a judge reads in another group are left out
        common["keep_disputed"] = True
    if data == "two-stage":
        stage2 = method if method in second_stages() else "erm"
        return common | {"method": "ffr", "synthetic": "accepted", "params": {"stage2": stage2}}
    if data not in {v for _, v in DATA_CHOICES}:
        raise ValueError(f"data must be one of {[v for _, v in DATA_CHOICES]}, got {data!r}")
    return common | {"method": method, "synthetic": data}


def source_choices(ctx: AppContext) -> list[tuple[str, str]]:
    """The 'Generated images from' choices: any method, each method, each generation job."""
    from debias_core.train.variants import generated_sources

    return [(s.label, s.key) for s in generated_sources(ctx.store)]


def submit(ctx: AppContext, params: dict) -> tuple:
    job_id = ctx.executor.submit("train", params)
    return (f"Queued training job **{job_id}**.",) + poll(ctx, "train")


def _pct(value) -> str:
    return "" if value is None else f"{100 * value:.1f}%"


def _with_interval(estimate: dict | None) -> str:
    """'12.0% [4.1, 25.0]' from an interval dict (empty for a run without a report)."""
    if estimate is None:
        return ""
    low, high = 100 * estimate["low"], 100 * estimate["high"]
    return f"{_pct(estimate['value'])} [{low:.1f}, {high:.1f}]"


def runs_rows(ctx: AppContext) -> list[list]:
    rows = []
    for run in reversed(ctx.store.list_runs("train")):
        test, cfg = run.metrics.get("test", {}), run.config
        iv = interval_fields(test)
        rows.append(
            [
                run.id,
                method_label(run.method, cfg.get("augment", "none")),
                run_data(ctx.store, run),
                cfg.get("seed", ""),
                cfg.get("epochs", ""),
                run.status,
                _with_interval(iv["test_wga_interval"]),
                iv["test_worst_n"] or "",
                _with_interval(iv["test_worst_class"]),
                *(_pct(test.get(k)) for k in ("average_accuracy", "balanced_accuracy")),
                _pct(test.get("aligned_accuracy")),
                _pct(test.get("conflicting_accuracy")),
                (run.finished_at or "")[:19].replace("T", " "),
            ]
        )
    return rows


def _ml_cell(row: dict, name: str) -> str:
    value, interval, std = row.get(name), row.get(f"{name}_interval"), row.get(f"standard_{name}")
    text = _with_interval(interval) if interval else _pct(value)
    return text + ("" if std is None else f" ({_pct(std)})")


def multilabel_rows(ctx: AppContext) -> list[list]:
    """The multi-label runs, newest first: each mAP with its bootstrap interval and the
    standard classifier's value (same seed, else newest) in parentheses."""
    rows = []
    for r in reversed(runs_table(ctx.store)):
        if "all_map" not in r:
            continue
        bias, std = r.get("mean_bias_score"), r.get("standard_mean_bias_score")
        bias_text = "" if bias is None else f"{bias:.2f}" + ("" if std is None else f" ({std:.2f})")
        rows.append(
            [r["run"], r["method"], r["seed"], *(_ml_cell(r, n) for n in SUMMARIES), bias_text,
             r.get("standard_run") or ""]
        )  # fmt: skip
    return rows


def multilabel_report_text(ctx: AppContext, run) -> str:
    """The chosen run's per-pair and per-class table beside the standard's ('' if single-label)."""
    from debias_core.evaluate.multilabel import MultiLabelReport, format_multilabel_report

    run_id = parse_optional_int(run, "run")
    if run_id is None:
        return ""
    record = ctx.store.get_run(run_id)
    report = record.metrics.get("multilabel")
    if not report:
        return ""
    standard = standard_run(ctx.store, record.config.get("seed"), run_id)
    other = None if standard is None else MultiLabelReport.from_dict(standard.metrics["multilabel"])
    label = "" if standard is None else f"run {standard.id}"
    text = format_multilabel_report(MultiLabelReport.from_dict(report), other, label)
    return f"**Run {run_id} (multi-label), test split**\n\n```\n{text}\n```"


def report_of(ctx: AppContext, run, sep: str = " · ") -> tuple[str, EvalReport]:
    """(the run's name with its data variant, its test report)."""
    run_id = parse_optional_int(run, "run")
    if run_id is None:
        raise ValueError("choose a run")
    record = ctx.store.get_run(run_id)  # KeyError for an unknown run
    if "test" not in record.metrics:
        raise ValueError(f"run {run_id} is {record.status} and has no evaluation report")
    if not record.metrics["test"]:
        raise ValueError(f"run {run_id} has no per-group report (a multi-label run: see its mAPs)")
    name = f"#{run_id} {record.method}{sep}{run_data(ctx.store, record)}"
    return name, EvalReport.from_dict(record.metrics["test"])


def run_figure(ctx: AppContext, run):
    from debias_core.analysis.group_figures import group_accuracy_bars

    name, report = report_of(ctx, run)
    return group_accuracy_bars(report, title=f"Run {name}: test accuracy per group")


def compare_figure(ctx: AppContext, runs):
    from debias_core.evaluate.report import compare_reports_figure

    if not runs:
        raise ValueError("choose one or more runs to compare")
    # One tick label per run, its data variant on a second line.
    return compare_reports_figure(dict(report_of(ctx, r, sep="<br>") for r in runs))


def render(ctx: AppContext) -> TabView:
    with gr.Tab("Train & Evaluate", id="train") as tab:
        comparison, comparison_refresh = render_comparison(ctx)
        with gr.Row():
            method = gr.Dropdown(
                TRAIN_METHODS.names(), value="erm", label="Method", elem_id="train-method"
            )
            data = gr.Radio(DATA_CHOICES, value="none", label="Data", elem_id="train-data")
            source = gr.Dropdown(
                [("every generation method", "any")],
                value="any",
                label="Generated images from",
                info="compare generators in one project: one method's or one job's images",
                elem_id="train-source",
            )
        with gr.Row():
            arch = gr.Dropdown(CLASSIFIERS.names(), value=DEFAULT_ARCH, label="Classifier")
            augment = gr.Dropdown(
                IMAGE_AUGMENTATIONS.names(),
                value="none",
                label="Augmentation",
                info="affine: random rotation, slant, scale and shift of each training image",
                elem_id="train-augment",
            )
            seed = checked(
                gr.Number(
                    0, label="Seed", precision=0, minimum=0, maximum=MAX_SEED, elem_id="train-seed"
                )
            )
            epochs = checked(
                gr.Number(
                    12,
                    label="Epochs",
                    precision=0,
                    minimum=1,
                    maximum=MAX_EPOCHS,
                    elem_id="train-epochs",
                )
            )
            keep_disputed = gr.Checkbox(
                False,
                label="Keep disputed generated images",
                info="by default images a judge reads in another group than their own are set "
                "aside (Review shows both groups)",
                elem_id="train-keep-disputed",
            )
        submit_btn = gr.Button("Train", variant="primary", elem_id="train-submit")
        note = gr.Markdown(elem_id="train-note")
        panel = render_jobs(ctx, "train")
        runs_table = gr.Dataframe(
            headers=RUN_HEADERS, value=[], interactive=False, label="Runs", elem_id="train-runs"
        )
        with gr.Row():
            run = gr.Dropdown([], label="Run to plot", elem_id="train-run")
            compare = gr.Dropdown(
                [], multiselect=True, label="Runs to compare", elem_id="train-cmp"
            )
        with gr.Row():
            group_plot = gr.Plot(label="Accuracy per group")
            compare_plot = gr.Plot(label="Runs compared")
        with gr.Accordion("Multi-label runs (mAP, bias score)", open=ctx.store.is_multilabel()):
            ml_table = gr.Dataframe(
                headers=ML_HEADERS,
                value=[],
                interactive=False,
                label="Multi-label runs: exclusive / co-occur mAP over the biased pairs, "
                "unbiased mAP over the other classes, all mAP",
                elem_id="train-ml-runs",
            )
            ml_report = gr.Markdown(elem_id="train-ml-report")

    def runs_view():
        choices = run_choices(ctx.store)
        sources = gr.Dropdown(choices=source_choices(ctx))
        return (
            runs_rows(ctx),
            gr.Dropdown(choices=choices),
            gr.Dropdown(choices=choices),
            sources,
            multilabel_rows(ctx),
        )

    def refresh():
        return (*poll(ctx, "train"), *runs_view(), *comparison_refresh())

    def first_view():  # page load: plot the newest finished run
        rows, _, compare_choices, sources, ml_rows = runs_view()
        choices = run_choices(ctx.store)
        newest = choices[0][1] if choices else None
        figure = None
        if newest:
            try:
                figure = run_figure(ctx, newest)
            except ValueError:  # a multi-label run without a per-group report
                figure = None
        run_value = gr.Dropdown(choices=choices, value=newest)
        ml_text = multilabel_report_text(ctx, newest) if newest else ""
        train_view = (*poll(ctx, "train"), rows, run_value, compare_choices, sources, ml_rows)
        return (*train_view, *comparison_refresh(), figure, ml_text)

    runs_outputs = [runs_table, run, compare, source, ml_table]
    refresh_outputs = [*panel.outputs, *runs_outputs, *comparison.outputs]

    @friendly
    def do_submit(method, data, arch, seed, epochs, source, keep_disputed=False, augment="none"):
        params = train_params(method, data, arch, seed, epochs, source, keep_disputed, augment)
        return submit(ctx, params)

    @friendly
    def plot_run(run):
        return run_figure(ctx, run)

    @friendly
    def plot_compare(runs):
        return compare_figure(ctx, runs)

    submit_btn.click(
        do_submit,
        [method, data, arch, seed, epochs, source, keep_disputed, augment],
        [note, *panel.outputs],
        api_name="train_submit",
        **PANEL_EVENT,
        concurrency_limit=1,
    )
    # After each poll (never before it), so a run whose job just finished is already listed.
    panel.polled.then(runs_view, None, runs_outputs, api_name="train_runs_after_poll")

    @friendly
    def show_multilabel(run):
        return multilabel_report_text(ctx, run)

    run.input(plot_run, run, group_plot, api_name="train_run_plot")
    run.input(show_multilabel, run, ml_report, api_name="train_run_multilabel")
    compare.input(plot_compare, compare, compare_plot, api_name="train_compare")
    tab.select(refresh, None, refresh_outputs, api_name="train_open", **PANEL_EVENT)
    return TabView("train", first_view, [*refresh_outputs, group_plot, ml_report])


if __name__ == "__main__":
    from ui.launch import run_tab

    run_tab("Train & Evaluate", render)
