"""What every command module shares: opening a project, progress lines, the expected errors."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from debias_core.jobs.local import JobFailed

# Bad input (and a job that failed, whose row keeps the details): a one-line message and exit
# status 2, never a traceback.
EXPECTED_ERRORS = (
    ValueError,
    KeyError,
    FileExistsError,
    FileNotFoundError,
    PermissionError,
    JobFailed,
)


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
    """The project named by `args.dir`."""
    from debias_core.store import Store

    return Store.open(Path(args.dir))
