"""Small helpers the tabs share: clear error messages, dropdown choices, job-row formatting."""

from __future__ import annotations

import functools
import html
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import gradio as gr

from debias_core.generate.base import NeedsRun
from debias_core.ids import MAX_ID
from debias_core.limits import MAX_SEED  # noqa: F401  (the tabs' seed widgets import it here)
from debias_core.store import Store
from debias_core.store.records import Job

# Bad input from a person or a client: shown as a message, never as a traceback.
EXPECTED_ERRORS = (KeyError, ValueError, FileNotFoundError, FileExistsError, PermissionError)
ANY = "any"


def error_text(exc: BaseException) -> str:
    """KeyError's str() adds quotes; the first argument is the message itself. A missing run
    says where to click in the app, not what to type on the command line."""
    if isinstance(exc, NeedsRun):
        return (
            f"{exc.reason}: train one in the Train & Evaluate tab (Method: {exc.method}, then "
            f"Train), then choose it in the '{exc.param}' box here"
        )
    return str(exc.args[0]) if exc.args else type(exc).__name__


def friendly(fn):
    """Turn the core's expected errors into a gr.Error: a toast in the page, a message for clients.

    Nothing has been written when the core raises these (it validates before writing).
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except EXPECTED_ERRORS as exc:
            raise gr.Error(error_text(exc), print_exception=False) from None

    return wrapper


# -- groups ------------------------------------------------------------------------------------
def group_label(store: Store, y: int, a: int, aligned: dict[int, int] | None = None) -> str:
    classes, attrs = store.class_names, store.attr_names
    name = f"{classes[y] if y < len(classes) else y} / {attrs[a] if a < len(attrs) else a}"
    kind = "" if aligned is None else (" · aligned" if aligned.get(y) == a else " · conflicting")
    return f"{name}{kind}"


def group_choices(store: Store) -> list[tuple[str, str]]:
    """Every (class, context) pair of the project as (label, "y,a")."""
    aligned = store.aligned_attrs()
    return [
        (group_label(store, y, a, aligned), f"{y},{a}")
        for y in range(len(store.class_names))
        for a in range(len(store.attr_names))
    ]


def parse_group(value: str | None) -> tuple[int, int] | None:
    """ "y,a" -> (y, a); "any" or empty -> None; anything else is a clear error."""
    if value in (None, "", ANY):
        return None
    try:
        y, a = (int(v) for v in str(value).split(","))
    except ValueError:
        raise ValueError(f"a group is written 'y,a' (two integers), got {value!r}") from None
    return y, a


def parse_optional_int(value, what: str, maximum: int = MAX_ID) -> int | None:
    """A whole number from a widget or a client ('any' / empty -> None); anything else refused.

    Refused with a message: bools, fractions (1.5), NaN, text that is not an integer, and
    values outside 0..maximum (an id of 10^30 cannot exist: SQLite integers are 64-bit).
    """
    if value is None or (isinstance(value, str) and value.strip() in ("", ANY)):
        return None
    return as_int(value, what, 0, maximum)


def as_int(value, what: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """`value` as an int, or ValueError naming `what` (no silent rounding of 1.5, no bools)."""
    number = value.strip() if isinstance(value, str) else value
    if isinstance(number, str):
        try:
            number = int(number)
        except ValueError:
            raise ValueError(f"{what} must be a whole number, got {value!r}") from None
    if isinstance(number, float) and math.isfinite(number) and number.is_integer():
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, int):
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    _check_range(number, what, minimum, maximum)
    return number


def as_float(value, what: str, minimum: float | None = None, maximum: float | None = None):
    """`value` as a finite float, or ValueError naming `what`."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    _check_range(value, what, minimum, maximum)
    return float(value)


def _check_range(number, what: str, minimum, maximum) -> None:
    if minimum is not None and number < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{what} must be <= {maximum}, got {number}")


def as_bool(value, what: str) -> bool:
    """Only true or false: a client sending "abc" to a confirmation box confirms nothing."""
    if not isinstance(value, bool):
        raise ValueError(f"{what} must be true or false, got {value!r}")
    return value


def checked(widget):
    """Give a Number / Slider / CheckboxGroup a clear message for values a client should not send.

    Gradio's own preprocessing fails on "abc", None or [1] with a TypeError, which a client sees
    as a generic error. The check is attached to the instance: subclassing a Gradio component
    would make Gradio write a .pyi stub next to this module at import.
    """
    builtin = widget.preprocess
    what = widget.label or "value"

    if isinstance(widget, gr.CheckboxGroup):

        def preprocess(payload):
            if payload is not None and not isinstance(payload, list):
                message = f"{what} must be a list of choices, got {payload!r}"
                raise gr.Error(message, print_exception=False)
            return builtin(payload or [])

    else:

        def preprocess(payload):
            if payload is None:
                return None  # the handler says what to do without a value
            parse = as_int if widget.precision == 0 else as_float
            try:
                number = parse(payload, what)
                _check_range(number, what, widget.minimum, widget.maximum)
            except ValueError as exc:
                raise gr.Error(str(exc), print_exception=False) from None
            return number

    widget.preprocess = preprocess
    return widget


# -- runs and jobs -----------------------------------------------------------------------------
def run_choices(store: Store) -> list[tuple[str, str]]:
    """Finished training runs, newest first, labelled with method and worst-group accuracy."""
    out = []
    for run in reversed(store.list_runs("train")):
        if run.status != "done":
            continue
        wga = run.metrics.get("test", {}).get("worst_group_accuracy")
        score = f" · WGA {wga:.1%}" if wga is not None else ""
        out.append((f"#{run.id} {run.method} ({run_data(store, run)}){score}", str(run.id)))
    return out


def run_data(store: Store, run) -> str:
    """The data a run learned from: 'real only', 'real + 40 accepted generated (txt2img 40)',
    'two-stage: ..., then real (erm)' (read from its config and the samples it used)."""
    from debias_core.train.variants import data_variant  # the train package loads torch

    return data_variant(store, run).label()


def _stamp(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def job_duration(job: Job) -> str:
    start = _stamp(job.started_at)
    if start is None:
        return ""
    end = _stamp(job.finished_at) or datetime.now(start.tzinfo)
    seconds = max((end - start).total_seconds(), 0.0)
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def job_row(job: Job, waiting: str = "") -> list:
    """One line of a jobs table: errors in full, the (traceback-bearing) message only if fine;
    a queued job shows `waiting` (its place in the queue and what it waits for)."""
    note = job.error if job.status == "failed" else (waiting or job.message)
    return [
        job.id,
        job.kind,
        job.status,
        f"{job.progress:.0%}",
        f"{job.units_done}/{job.units_total}" if job.units_total else "",
        job.executor,
        job_duration(job),
        (job.created_at or "")[:19].replace("T", " "),
        note.splitlines()[0][:200] if note else "",
    ]


JOB_HEADERS = [
    "id", "kind", "status", "progress", "units", "executor", "duration", "created", "message"
]  # fmt: skip


def progress_html(job: Job | None, waiting: str = "") -> str:
    """A progress bar for the newest job (with its error when it failed, and for a queued job
    `waiting`: its place in the queue and what it waits for)."""
    if job is None:
        return "<div class='ds-job'>No job yet.</div>"
    color = {"failed": "#d62728", "cancelled": "#888", "interrupted": "#e69500"}.get(
        job.status, "#2ca02c"
    )
    detail = job.error if job.status == "failed" else job.message.splitlines()[0:1]
    detail = detail if isinstance(detail, str) else "".join(detail)
    detail = waiting or detail
    return (
        f"<div class='ds-job' id='ds-job-{job.kind}'>"
        f"<b>Job {job.id}</b> ({job.kind}) — <b>{job.status}</b> · {job.progress:.0%}"
        f" · {job_duration(job)}"
        f"<div style='background:#ddd;border-radius:4px;height:10px;margin:4px 0'>"
        f"<div style='width:{100 * job.progress:.1f}%;background:{color};height:10px;"
        f"border-radius:4px'></div></div>"
        f"<pre style='white-space:pre-wrap;margin:0'>{html.escape(detail or '')}</pre></div>"
    )


# -- tabs --------------------------------------------------------------------------------------
@dataclass
class TabView:
    """What a tab's render() hands back: how to refresh it when the page loads."""

    name: str
    refresh: Callable[[], tuple]
    outputs: list = field(default_factory=list)
