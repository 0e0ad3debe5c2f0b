"""Turn a project store into a `FairnessReport` (the view model), then into one HTML file.

The CLI (`report DIR --out report.html`) and the app's Report tab both call `write_report`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from debias_core import __version__
from debias_core.report.card import model_card
from debias_core.report.dataset import dataset_section
from debias_core.report.generated import chosen_methods, generated_section
from debias_core.report.results import chosen_runs, results_section
from debias_core.report.view import FairnessReport, ProjectInfo, ReportOptions
from debias_core.store import Store
from debias_core.store.project import known_schema
from debias_core.store.records import now

Progress = Callable[[float, str], None]


def project_info(store: Store) -> ProjectInfo:
    meta = store.meta()
    return ProjectInfo(
        root=str(store.root),
        name=store.root.resolve().name,
        dataset=str(meta.get("dataset", "unknown")),
        dataset_params=dict(meta.get("dataset_params") or {}),
        class_names=list(meta.get("class_names", [])),
        attr_names=list(meta.get("attr_names", [])),
        created_at=str(meta.get("created_at", "")),
        software_version=str(meta.get("software_version", __version__)),
        schema=known_schema()[-1],
        generated_at=now()[:19].replace("T", " ") + " UTC",
    )


def check_options(store: Store, options: ReportOptions) -> None:
    """Refuse (ValueError) options this project cannot satisfy: unknown runs or methods."""
    options.check_inputs()
    chosen_methods(store, options)
    chosen_runs(store, options)


def build_fairness_report(
    store: Store, options: ReportOptions | None = None, progress: Progress | None = None
) -> FairnessReport:
    """Every section, from the store only (nothing is trained, embedded or generated)."""
    say = progress or (lambda f, m: None)
    options = options or ReportOptions()
    # 1. Check inputs: bad runs / methods are refused before any work (or progress line).
    check_options(store, options)
    start = time.perf_counter()
    info = project_info(store)
    say(0.05, "results: chosen runs and intervals")
    results = results_section(store, options)
    say(0.3, "dataset: groups and example images")
    dataset = dataset_section(store, options)
    say(0.6, "generated: counts, agreement, distance, example grids")
    generated = generated_section(store, options, info.root)
    say(0.9, "model card")
    card = model_card(info, dataset, generated, results)
    seconds = time.perf_counter() - start
    return FairnessReport(info, options, dataset, generated, results, card, seconds)


def write_report(
    store: Store, out: Path, options: ReportOptions | None = None, progress: Progress | None = None
) -> tuple[Path, FairnessReport]:
    """Build the report and write it as one self-contained HTML file at `out`."""
    from debias_core.report.html import render_html

    out = Path(out)
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; name the HTML file to write")
    if not out.parent.is_dir():
        raise ValueError(f"the folder of --out ({out.parent}) does not exist")
    report = build_fairness_report(store, options, progress)
    (progress or (lambda f, m: None))(0.95, "writing HTML")
    partial = out.with_name(out.name + ".partial")
    partial.write_text(render_html(report), encoding="utf-8")
    partial.replace(out)  # a reader never sees half a report
    return out, report
