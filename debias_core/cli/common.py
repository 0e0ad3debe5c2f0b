"""What every command module shares: the parser class, argument types, opening a project,
progress lines, and turning expected errors into one line."""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

# Bad input or an unusable environment (missing file, full disk): one line, exit status 2.
EXPECTED_ERRORS = (ValueError, KeyError, OSError, sqlite3.Error)
# A job that failed or was cancelled: one line (its row keeps the traceback), exit status 1.


def error_line(exc: BaseException) -> str:
    """The message of an expected error, without Python's decorations."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else ""
        return f"{exc.strerror}: {where}" if where else exc.strerror
    return " ".join(str(exc).split()) or type(exc).__name__  # one line, even if it had several


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors and help texts that can list a registry's names.

    The names are read when help is shown, not when the parser is built, so a command that does
    not need torch never imports the registries that do.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", RegistryHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


class RegistryHelpFormatter(argparse.HelpFormatter):
    def _get_help_string(self, action) -> str:
        text = action.help or ""
        names = getattr(action, "valid_names", None)
        if names is not None:  # '%' would start an argparse format field
            text += "; one of: " + ", ".join(names()).replace("%", "%%")
        return text

    def _split_lines(self, text: str, width: int) -> list[str]:
        # Never break inside a hyphenated name ('ml-remove-cooccur-images'): it must stay
        # copyable from the help.
        import textwrap

        text = self._whitespace_matcher.sub(" ", text).strip()
        return textwrap.wrap(text, width, break_on_hyphens=False)


def lists_names(action: argparse.Action, names: Callable[[], list[str]]) -> argparse.Action:
    """Make `action`'s help end with the valid names (from a registry, read lazily)."""
    action.valid_names = names
    return action


def _number(kind, text: str, lowest, what: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if (isinstance(value, float) and not math.isfinite(value)) or value < lowest:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    return _number(int, text, 0, "an integer >= 0")


def seed_int(text: str) -> int:
    from debias_core.limits import MAX_SEED

    value = _number(int, text, 0, f"an integer in 0..{MAX_SEED}")
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer in 0..{MAX_SEED}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _number(int, text, 1, "an integer >= 1")


def non_negative_float(text: str) -> float:
    return _number(float, text, 0.0, "a finite number >= 0")


def positive_float(text: str) -> float:
    value = _number(float, text, 0.0, "a finite number > 0")
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def device_arg(text: str) -> str:
    """--device: one check for every command (parses with torch.device and exists here)."""
    from debias_core.devices import check_device

    try:
        return check_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_device_arg(p: argparse.ArgumentParser, help: str | None = None) -> None:
    from debias_core.devices import DEVICE_HELP

    p.add_argument("--device", type=device_arg, default="cpu", help=help or DEVICE_HELP)


def add_executor_args(p: argparse.ArgumentParser) -> None:
    """--executor / --ray-address: where a job's work units run (chosen per job)."""
    from debias_core.jobs.executor import EXECUTORS

    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="where generation / personalization units run: local (this process) or ray "
        "(Ray actors; needs `pip install ray==2.60.0`)",
    )
    p.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="the Ray cluster to use with --executor ray (e.g. 10.0.0.5:6379 or auto); "
        "default: start a local one on loopback",
    )


def executor_choice(args):
    """The ExecutorChoice of --executor / --ray-address, checked (Ray installed)."""
    from debias_core.jobs.executor import ExecutorChoice

    return ExecutorChoice(args.executor, args.ray_address).check()


def json_object(text: str | None, option: str) -> dict:
    """A JSON object given on the command line (not a list, a number or a string)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{option} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{option} must be a JSON object such as '{{\"key\": 1}}', got {text!r}")
    return value


def add_project_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="the project folder")


def progress_printer(prefix: str = ""):
    """A progress callback that prints at most a few lines per second to stderr."""
    last = [0.0]

    def report(fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - last[0] > 0.5 or fraction >= 1.0:
            last[0] = now
            print(f"{prefix}[{fraction:6.1%}] {message}", file=sys.stderr, flush=True)

    return report


def open_project(args):
    """The project named by `args.dir`; jobs whose process died are marked interrupted."""
    from debias_core.jobs.base import mark_interrupted
    from debias_core.store import Store

    store = Store.open(Path(args.dir))
    lost = mark_interrupted(store)
    if lost:
        print(
            f"note: job(s) {lost} stopped with their process; resume with: python -m "
            f"debias_core jobs {args.dir} --resume ID",
            file=sys.stderr,
        )
    return store
