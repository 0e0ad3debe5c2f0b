"""Command line and safe launch settings shared by app.py and each tab run alone."""

from __future__ import annotations

import argparse
import inspect
import ipaddress
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import gradio as gr
import gradio.networking
import httpx

from debias_core.cli.common import (
    EXPECTED_ERRORS,
    Parser,
    add_executor_args,
    device_arg,
    error_line,
)
from debias_core.jobs import ExecutorChoice
from debias_core.store import DB_NAME
from ui.common import TabView
from ui.hotkeys import HOTKEYS_JS
from ui.state import DEMO_DATASET, DEMO_DATASETS, AppContext, make_context

AUTH_ENV = "DEBIAS_STUDIO_AUTH"
# How long start-up waits for its own server to answer. Gradio's own check gives up after one
# 3-s request timeout and then demands share=True; on a 2-core machine at load 13-22 the first
# answer took longer than that. Generous on purpose: it only delays a start that would fail.
SERVER_WAIT_S = 300
SERVER_OK = (200, 301, 302, 303, 307, 308, 401)  # what Gradio accepts (auth: 401 or a redirect)
CSS = """
.ds-job { font-size: 0.9em; }
#review-images img, #groups-gallery img { image-rendering: pixelated; }
"""


def build_parser(description: str) -> argparse.ArgumentParser:
    p = Parser(description=description)  # one-line errors, like the CLI
    p.add_argument(
        "--project",
        type=Path,
        default=Path("demo-project"),
        help="project folder (the Colored Digits demo is created there if empty)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default: local only); any other than a loopback address needs "
        "--auth",
    )
    p.add_argument("--port", type=int, default=7860, help="port to listen on")
    p.add_argument(
        "--auth", default=None, help=f"user:password required to open the app (or set {AUTH_ENV})"
    )
    p.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="serve a non-loopback --host without a login (anyone who can reach it can use it)",
    )
    p.add_argument("--device", type=device_arg, default="cpu", help="torch device for jobs")
    add_executor_args(p)
    p.add_argument(
        "--demo",
        choices=DEMO_DATASETS,
        default=DEMO_DATASET,
        help="the embedded demo created when --project is a new or empty folder",
    )
    p.add_argument("--reviewer", default=None, help="name recorded with decisions (no --auth)")
    p.add_argument("--max-file-size", default="20mb", help="largest upload accepted")
    p.add_argument(
        "--threads",
        type=threads_arg,
        default=0,
        help="CPU threads per job (default 0: torch's choice, one per core); 1 on a machine "
        "shared with other work, where threads that wait for each other burn CPU time",
    )
    return p


def threads_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if not 0 <= value <= 1024:
        raise argparse.ArgumentTypeError(f"must be in 0..1024, got {value}")
    return value


def apply_threads(threads: int) -> None:
    """torch's intra-op threads for every job of this process (0 leaves torch's default)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def parse_auth(text: str | None) -> tuple[str, str] | None:
    """'user:password' -> (user, password); None or empty -> no login."""
    if not text:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise ValueError("--auth must look like user:password")
    return user, password


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and 'localhost' reach only this machine; anything else may not."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def check_exposure(host: str, auth, insecure_no_auth: bool = False) -> str | None:
    """Refuse to serve other machines without a login; returns a warning to print, if any."""
    if is_loopback(host) or auth:
        return None
    if insecure_no_auth:
        return (
            f"warning: serving on {host} without a login (--insecure-no-auth): anyone who can "
            "reach this port can read, curate and delete this project's data"
        )
    raise ValueError(
        f"--host {host} is reachable from other machines: give --auth user:password (or set "
        f"{AUTH_ENV}), or --insecure-no-auth to serve without a login"
    )


def settings_from_args(args: argparse.Namespace) -> tuple[tuple[str, str] | None, str | None]:
    """(auth, exposure warning) from the flags; bad combinations raise ValueError."""
    auth = parse_auth(args.auth or os.environ.get(AUTH_ENV))
    return auth, check_exposure(args.host, auth, args.insecure_no_auth)


def announce(demo: gr.Blocks, warning: str | None) -> None:
    """Our start-up lines; Gradio's are silenced (they suggest share=True, never used here)."""
    print(f"Debias Studio running on {demo.local_url}", file=sys.stderr, flush=True)
    if warning:
        print(warning, file=sys.stderr, flush=True)


def stop_on_sigterm() -> None:
    """SIGTERM ends the app like Ctrl-C, so its running jobs are marked interrupted on the way."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def wait_for_server(url: str, timeout: float = SERVER_WAIT_S) -> bool:
    """Poll `url` until it answers (True), retrying slow or refused requests; after `timeout`
    seconds a clear error, never a suggestion to share the app."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.head(url, timeout=30, verify=False).status_code in SERVER_OK:
                return True
        except httpx.HTTPError:  # refused, reset or timed out: the server may still be starting
            pass
        if time.monotonic() >= deadline:
            raise RuntimeError(f"the app's own server at {url} did not answer within {timeout} s")
        time.sleep(0.5)


def start_server(demo: gr.Blocks, **options) -> None:
    """`demo.launch(...)` in a thread, never sharing, and waiting for its own server robustly.

    Gradio checks the local URL once (a 3-s timeout) and on failure raises "When localhost is not
    accessible, a shareable link must be created"; `wait_for_server` replaces that check for the
    duration of this launch only.
    """
    options = {**options, "share": False, "prevent_thread_lock": True}
    original = gradio.networking.url_ok
    gradio.networking.url_ok = wait_for_server
    try:
        demo.launch(**options)
    except BaseException:
        demo.close()  # the server thread may be up: do not leave it behind
        raise
    finally:
        gradio.networking.url_ok = original


def context_from_args(args: argparse.Namespace) -> AppContext:
    apply_threads(getattr(args, "threads", 0))
    executor = ExecutorChoice(args.executor, args.ray_address)
    return make_context(args.project, args.device, args.reviewer, executor=executor, demo=args.demo)


def launch_options(
    ctx: AppContext,
    host: str = "127.0.0.1",
    port: int | None = 7860,
    auth: tuple[str, str] | None = None,
    max_file_size: str | int = "20mb",
    **extra,
) -> dict:
    """launch() keywords: local by default, no share / monitoring / MCP / run history, and only
    the image folders of the project servable (the database, runs and caches are blocked)."""
    root = ctx.root.resolve()
    options = dict(
        server_name=host,
        server_port=port,
        share=False,
        auth=auth,
        enable_monitoring=False,
        mcp_server=False,
        run_history=False,
        ssr_mode=False,
        max_file_size=max_file_size,
        allowed_paths=[str(root / "thumbs"), str(root / "files")],
        blocked_paths=[str(root / n) for n in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm")]
        + [str(root / "runs"), str(root / "cache")],
        show_error=False,
        quiet=True,  # Gradio's own banner would suggest share=True; announce() prints the URL
        head=HOTKEYS_JS,
        css=CSS,
        footer_links=["api"],
    )
    options.update(extra)
    known = inspect.signature(gr.Blocks.launch).parameters
    return {k: v for k, v in options.items() if k in known}  # older gradio lacks some options


def add_page_loads(demo: gr.Blocks, views: Sequence[TabView]) -> None:
    """Fill every tab from the store when a page opens (values built at start-up go stale)."""
    for view in views:
        demo.load(
            view.refresh, None, view.outputs, api_name=f"{view.name}_load", show_progress="hidden"
        )


def configure_queue(demo: gr.Blocks) -> gr.Blocks:
    # Handlers are short store calls; the heavy work runs in the executor's thread.
    return demo.queue(default_concurrency_limit=8, max_size=512)


def run_tab(title: str, render: Callable[[AppContext], TabView], argv=None) -> None:
    """`python -m ui.<tab>`: the same options as app.py, one tab only."""
    args = build_parser(f"Debias Studio: the {title} tab alone").parse_args(argv)
    try:
        auth, warning = settings_from_args(args)
        ctx = context_from_args(args)
    except EXPECTED_ERRORS as exc:
        raise SystemExit(f"error: {error_line(exc)}") from None
    with gr.Blocks(title=f"Debias Studio · {title}") as demo:
        view = render(ctx)
        add_page_loads(demo, [view])
    configure_queue(demo)
    start_server(demo, **launch_options(ctx, args.host, args.port, auth, args.max_file_size))
    announce(demo, warning)
    stop_on_sigterm()
    try:
        demo.block_thread()
    finally:
        ctx.shutdown()
