"""Debias Studio in the browser: `python app.py [--project DIR] [--port 7860]`.

Builds the Blocks from one module per tab, configures the queue and launches on 127.0.0.1.
The first run creates the Colored Digits demo project (progress in the terminal); models load
on first use, so the server answers within seconds.
"""

from __future__ import annotations

import os
import sys

import gradio as gr

from ui import embeddings, generate, groups, review, train_eval
from ui.launch import (
    AUTH_ENV,
    add_page_loads,
    build_parser,
    configure_queue,
    context_from_args,
    launch_options,
    parse_auth,
)
from ui.state import AppContext

TABS = (groups, generate, review, embeddings, train_eval)


def build_app(ctx: AppContext) -> gr.Blocks:
    with gr.Blocks(title="Debias Studio") as demo:
        gr.Markdown(f"## Debias Studio · project `{ctx.root.name}`")
        views = [tab.render(ctx) for tab in TABS]
        add_page_loads(demo, views)
    return configure_queue(demo)


def main(argv: list[str] | None = None) -> int:
    args = build_parser("Debias Studio: find biased groups, generate, curate, train.").parse_args(
        argv
    )
    try:
        auth = parse_auth(args.auth or os.environ.get(AUTH_ENV))
        ctx = context_from_args(args)
    except (ValueError, OSError) as exc:  # bad flags or project folder: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    demo = build_app(ctx)
    options = launch_options(ctx, args.host, args.port, auth, args.max_file_size)
    demo.launch(prevent_thread_lock=True, **options)
    print(f"Debias Studio: project {ctx.root.resolve()}", file=sys.stderr)
    demo.block_thread()
    return 0


if __name__ == "__main__":
    sys.exit(main())
