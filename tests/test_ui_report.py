"""The Report tab's handler without a server: widget values -> the core report, a file to
download and an inline preview; bad values are one clear message."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from report_project import REASON_OK, make_report_project

from ui import report as tab


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    from ui.state import make_context

    store, *_ = make_report_project(tmp_path_factory.mktemp("ui-report") / "proj")
    return make_context(store.root, reviewer="tester", create=False)


def test_build_writes_the_file_and_previews_it(ctx):
    base, other = (r.id for r in ctx.store.list_runs("train"))
    note, path, preview = tab.build_report(ctx, [str(other), str(base)], ["test"])
    assert note.startswith("Built **proj-report-") and f"runs {other}, {base}" in note
    page = Path(path).read_text(encoding="utf-8")
    assert f"Lift of run {base}" in page and REASON_OK in page
    # The preview is the same document, escaped into an iframe's srcdoc.
    assert preview.startswith("<iframe") and html.escape(page, quote=True) in preview


def test_no_runs_ticked_means_the_default_pair(ctx):
    note, _, _ = tab.build_report(ctx, [], None)
    assert "is the ERM baseline" in note


@pytest.mark.parametrize(
    "runs, methods, message",
    [
        (["99"], [], "run 99 is not a finished training run"),
        ([], ["dbb"], "no generated images of method 'dbb'"),
        ("1", [], "runs must be a list of run ids"),
        (["x"], [], "run must be a whole number"),
    ],
)
def test_bad_values_are_refused_before_anything_is_written(ctx, runs, methods, message):
    before = set(tempfile_dirs())
    with pytest.raises(ValueError, match=message):
        tab.build_report(ctx, runs, methods)
    assert set(tempfile_dirs()) == before


def tempfile_dirs():
    import tempfile
    from pathlib import Path

    return Path(tempfile.gettempdir()).glob("debias-report-*")


def test_choices_list_finished_runs_and_methods(ctx):
    assert tab.method_choices(ctx) == ["test"]
