"""Review's side panels, without widgets: saved views, export / import, policy agreement."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import gradio as gr
from gradio.data_classes import FileData
from gradio.utils import get_upload_folder

from debias_core.analysis.review import load_review_view, save_review_view
from debias_core.data.curation_io import export_zip, import_curation_csv
from debias_core.ids import shown
from debias_core.verify.agreement import POLICY, agreement_report
from ui.review_view import filter_widgets, queue_filter
from ui.state import AppContext

EXPORT_STATUSES = ["accepted", "all"]
AGREEMENT_HEADERS = ["policy", "person \\ policy", *POLICY, "kappa", "agreement", "samples"]


class _UploadedFile(FileData):
    """A file payload that answers anything else (text, a number) with a message.

    Gradio validates a File input's payload against its data model before any preprocess hook,
    and a failed validation reaches a client as the generic "has raised an exception".
    """

    @classmethod
    def model_validate(cls, obj, *args, **kwargs):
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValueError:  # pydantic's ValidationError is a ValueError
            raise gr.Error("upload a CSV file", print_exception=False) from None


def checked_file(widget: gr.File) -> gr.File:
    """A single-file input that refuses a client's non-file value with a clear message."""
    widget.data_model = _UploadedFile
    return widget


def save_view(ctx: AppContext, name, filters: tuple) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError("type a name for the view")
    save_review_view(ctx.store, name, queue_filter(*filters))
    return f"Saved view '{' '.join(name.split())}'."


def load_view(ctx: AppContext, name) -> tuple:
    """The saved view's filter as widget values (queue_filter's argument order)."""
    if not isinstance(name, str) or not name:
        raise ValueError("choose a saved view")
    return filter_widgets(load_review_view(ctx.store, name))


def export_file(ctx: AppContext, status, generated) -> str:
    """The CLI's export (images, metadata.csv, curation.csv) as a zip in a fresh temp folder."""
    if status not in EXPORT_STATUSES:
        raise ValueError(f"export status must be one of {EXPORT_STATUSES}, got {status!r}")
    if not isinstance(generated, bool):
        raise ValueError(f"'include generated' must be true or false, got {generated!r}")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = Path(tempfile.mkdtemp(prefix="debias-export-"))
    out = folder / f"{ctx.root.name}-{stamp}.zip"
    return str(export_zip(ctx.store, out, generated=generated, status=status))


def import_file(ctx: AppContext, path, reviewer: str, unchecked=False) -> str:
    """Decisions and tags from an uploaded curation CSV (the whole file or nothing).

    Only a file Gradio itself received as an upload is read: a client's payload may name any
    path on the server, and nothing outside the upload folder is opened (or echoed back).
    """
    if not isinstance(path, str) or not path:
        raise ValueError("upload a curation CSV first")
    if not isinstance(unchecked, bool):
        raise ValueError(f"'without sha256 check' must be true or false, got {shown(unchecked)}")
    if not was_uploaded(path):
        raise ValueError("only a curation CSV uploaded to this app is read; upload the file")
    if not path.lower().endswith(".csv"):
        raise ValueError(f"the import file must be a .csv, got {shown(Path(path).name)}")
    result = import_curation_csv(ctx.store, Path(path), reviewer, check_sha256=not unchecked)
    return result.message().capitalize() + "."


def was_uploaded(path: str) -> bool:
    """True for a regular file inside Gradio's upload folder (after resolving links)."""
    folder = Path(get_upload_folder()).resolve()
    target = Path(path).resolve()
    return target.is_relative_to(folder) and target != folder and target.is_file()


def agreement_rows(ctx: AppContext) -> tuple[list[list], str]:
    """Per policy: the person x policy confusion rows, kappa and raw agreement; and a summary."""
    reports = agreement_report(ctx.store)
    if not reports:
        return [], "No policy has decided anything yet: run verification (`verify DIR`) first."
    rows = []
    for r in reports:
        kappa = "undefined" if r.kappa is None else round(r.kappa, 3)
        seen = "-" if r.observed is None else f"{r.observed:.1%}"
        for person, counts in zip(("accept", "reject"), r.confusion, strict=True):
            rows.append([r.policy, person, *counts, kappa, seen, r.n])
    return rows, (
        "Samples both a person and the policy decided; kappa over the policy's firm calls "
        "(needs-review is a deferral, not a disagreement)."
    )
