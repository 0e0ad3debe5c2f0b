"""Debias Studio in the browser: `python app.py [--project DIR] [--port 7860]`.

Builds the Blocks from one module per tab, configures the queue and launches on 127.0.0.1.
The first run creates the Colored Digits demo project (progress in the terminal); models load
on first use, so the server answers within seconds.
"""

from __future__ import annotations

import sys

import gradio as gr

from debias_core.cli.common import EXPECTED_ERRORS, error_line
from ui import embeddings, generate, groups, personalize, report, review, train_eval, verify
from ui.jobs import render_executor_choice
from ui.launch import (
    add_page_loads,
    announce,
    build_parser,
    configure_queue,
    context_from_args,
    launch_options,
    settings_from_args,
    start_server,
    stop_on_sigterm,
)
from ui.state import AppContext

TABS = (groups, personalize, generate, review, verify, embeddings, train_eval, report)


def build_app(ctx: AppContext) -> gr.Blocks:
    with gr.Blocks(title="Debias Studio") as demo:
        gr.Markdown(f"## Debias Studio · project `{ctx.root.name}`")
        render_executor_choice(ctx)  # one choice for every tab that launches jobs
        views = [tab.render(ctx) for tab in TABS]
        add_page_loads(demo, views)
    return configure_queue(demo)


def main(argv: list[str] | None = None) -> int:
    args = build_parser("Debias Studio: find biased groups, generate, curate, train.").parse_args(
        argv
    )
    try:
        auth, warning = settings_from_args(args)  # before the project is opened or created
        ctx = context_from_args(args)
    except EXPECTED_ERRORS as exc:  # bad flags or project folder: one line, no traceback
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 2
    demo = build_app(ctx)
    start_server(demo, **launch_options(ctx, args.host, args.port, auth, args.max_file_size))
    print(f"Debias Studio: project {ctx.root.resolve()}", file=sys.stderr)
    announce(demo, warning)
    stop_on_sigterm()
    try:
        demo.block_thread()  # returns on Ctrl-C (Gradio closes the server)
    finally:
        stopped = ctx.shutdown()  # this process's jobs: interrupted, resumable
        if stopped:
            print(f"job(s) {stopped} interrupted; resume them from the app", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
