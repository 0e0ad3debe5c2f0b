"""`python -m debias_core`: the pipeline without the UI.

Every command prints a one-line error and exits with status 2 on bad input; long work prints
progress to stderr. Each module of this package adds one stage's commands (`add_parsers`); a new
stage is one module plus one entry in COMMAND_MODULES.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

from debias_core.cli import (
    curation,
    generate,
    jobs,
    labels,
    personalize,
    project,
    report,
    train,
    verify,
)
from debias_core.cli.common import EXPECTED_ERRORS, Parser, error_line, progress_printer

COMMAND_MODULES = (
    project,
    train,
    generate,
    personalize,
    verify,
    curation,
    jobs,
    labels,
    report,
)
DEBUG_ENV = "DEBIAS_DEBUG"  # set to 1 to see the traceback of an internal error

__all__ = ["EXPECTED_ERRORS", "build_parser", "main", "progress_printer"]


DESCRIPTION = (
    "Debias Studio without the browser: create a project from a dataset, read its groups, "
    "generate, train and evaluate, and manage long jobs. Bad input gets a one-line error and "
    "exit status 2. See `python -m debias_core COMMAND --help` for each command."
)


def build_parser() -> Parser:
    parser = Parser(prog="python -m debias_core", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_parsers(sub)
    return parser


def _stop_on_sigterm() -> None:
    """SIGTERM behaves like Ctrl-C, so a running job is marked interrupted before exiting."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread (main() from a test thread)
        signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a bad flag (already reported in one line)
        return exc.code if isinstance(exc.code, int) else 2
    _stop_on_sigterm()
    try:
        return args.func(args)
    except KeyboardInterrupt as exc:
        print(f"interrupted: {exc}" if str(exc) else "interrupted", file=sys.stderr)
        return 130
    except EXPECTED_ERRORS as exc:
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # a job that failed: its error is the message
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: still one line, the traceback on request
        if os.environ.get(DEBUG_ENV):
            raise
        print(
            f"error: internal error ({type(exc).__name__}: {error_line(exc)}); "
            f"run with {DEBUG_ENV}=1 for the traceback",
            file=sys.stderr,
        )
        return 1
