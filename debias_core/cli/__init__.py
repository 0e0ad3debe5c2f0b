"""`python -m debias_core`: the pipeline without the UI.

Every command prints a one-line error and exits with status 2 on bad input; long work prints
progress to stderr. Each module of this package adds one stage's commands (`add_parsers`); a new
stage is one module plus one entry in COMMAND_MODULES.
"""

from __future__ import annotations

import argparse
import json
import sys

from debias_core.cli import curation, generate, project, train
from debias_core.cli.common import EXPECTED_ERRORS, progress_printer

COMMAND_MODULES = (project, train, generate, curation)

__all__ = ["EXPECTED_ERRORS", "build_parser", "main", "progress_printer"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m debias_core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except json.JSONDecodeError as exc:
        print(f"error: invalid JSON option: {exc}", file=sys.stderr)
    except EXPECTED_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 2
