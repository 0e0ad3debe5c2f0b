"""Report tab: build the shareable fairness report, preview it inline and download the file.

The same core function as `python -m debias_core report DIR --out report.html`.
Run alone: python -m ui.report --project DIR
"""

from __future__ import annotations

import html
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import gradio as gr

from ui.common import TabView, friendly, parse_optional_int, run_choices
from ui.state import AppContext

PREVIEW_HEIGHT = 900
EMPTY_PREVIEW = "<p>Press <b>Build report</b> to preview it here.</p>"


def report_options(runs, methods):
    """Widget values -> ReportOptions: no runs ticked means the default pair, no method all."""
    from debias_core.report import ReportOptions

    if runs is not None and not isinstance(runs, list):
        raise ValueError(f"runs must be a list of run ids, got {runs!r}")
    if methods is not None and not isinstance(methods, list):
        raise ValueError(f"methods must be a list of method names, got {methods!r}")
    ids = tuple(parse_optional_int(r, "run") for r in runs or [])
    if None in ids:
        raise ValueError("a run id is empty")
    names = tuple(str(m) for m in methods or [])
    return ReportOptions(runs=ids or None, methods=names or None)


def build_report(ctx: AppContext, runs, methods) -> tuple[str, str, str]:
    """(a summary line, the written file for download, the inline preview)."""
    from debias_core.report import check_options, write_report

    options = report_options(runs, methods)
    check_options(ctx.store, options)  # before a file or folder is made
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = Path(tempfile.mkdtemp(prefix="debias-report-"))
    out, report = write_report(ctx.store, folder / f"{ctx.root.name}-report-{stamp}.html", options)
    chosen = ", ".join(str(r.run_id) for r in report.results.runs) or "none yet"
    note = (
        f"Built **{out.name}** ({out.stat().st_size / 2**20:.1f} MB) in {report.seconds:.1f} s: "
        f"runs {chosen}. {report.results.choice_note}."
    )
    return note, str(out), preview_html(out.read_text(encoding="utf-8"))


def preview_html(page: str) -> str:
    """The report in an iframe (its own document: its styles and scripts stay inside)."""
    return (
        f'<iframe title="fairness report preview" srcdoc="{html.escape(page, quote=True)}" '
        f'style="width:100%;height:{PREVIEW_HEIGHT}px;border:1px solid #d0d7e2;'
        'border-radius:8px;background:#fff"></iframe>'
    )


def method_choices(ctx: AppContext) -> list[str]:
    return ctx.store.recipe_methods()


def render(ctx: AppContext) -> TabView:
    with gr.Tab("Report", id="report") as tab:
        gr.Markdown(
            "A shareable fairness report: one HTML file that opens offline and prints to PDF. "
            "Tick runs to compare (the first is the baseline; none: the ERM run and the best run "
            "by validation worst-group accuracy) and the generation methods to show (none: all)."
        )
        with gr.Row():
            runs = gr.Dropdown([], multiselect=True, label="Runs", elem_id="report-runs")
            methods = gr.Dropdown(
                [], multiselect=True, label="Generation methods", elem_id="report-methods"
            )
        build_btn = gr.Button("Build report", variant="primary", elem_id="report-build")
        note = gr.Markdown(elem_id="report-note")
        download = gr.File(label="Download", interactive=False, elem_id="report-file")
        preview = gr.HTML(EMPTY_PREVIEW, elem_id="report-preview")

    def choices():
        return (
            gr.Dropdown(choices=run_choices(ctx.store)),
            gr.Dropdown(choices=method_choices(ctx)),
        )

    @friendly
    def on_build(runs_value, methods_value):
        return build_report(ctx, runs_value, methods_value)

    build_btn.click(
        on_build,
        [runs, methods],
        [note, download, preview],
        api_name="report_build",
        concurrency_limit=1,
        concurrency_id="report",
    )
    tab.select(choices, None, [runs, methods], api_name="report_open")
    return TabView("report", choices, [runs, methods])


if __name__ == "__main__":
    from ui.launch import run_tab

    run_tab("Report", render)
