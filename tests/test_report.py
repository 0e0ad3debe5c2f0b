"""EvalReport: built from hand-made arrays, JSON round-trip, text table, figures."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from debias_core.evaluate import (
    EvalReport,
    build_report,
    compare_reports_figure,
    format_group_table,
    group_accuracy_figure,
)

# Same arrays as tests/test_metrics.py: groups (0,0) 2/3, (0,1) 0/1, (1,0) 1/2, (1,1) 2/2.
Y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
A = np.array([0, 0, 0, 1, 1, 1, 0, 0])
P = np.array([0, 0, 1, 1, 1, 1, 1, 0])
CLASSES = ["landbird", "waterbird"]
ATTRS = ["land", "water"]


@pytest.fixture
def report() -> EvalReport:
    return build_report(P, Y, A, CLASSES, ATTRS, aligned_attr=np.array([0, 1]))


def test_build_report_values(report):
    rows = [(r.y, r.a, r.class_name, r.attr_name, r.n, r.aligned) for r in report.per_group]
    assert rows == [
        (0, 0, "landbird", "land", 3, True),
        (0, 1, "landbird", "water", 1, False),
        (1, 0, "waterbird", "land", 2, False),
        (1, 1, "waterbird", "water", 2, True),
    ]
    assert [r.accuracy for r in report.per_group] == pytest.approx([2 / 3, 0, 0.5, 1])
    assert report.worst_group_accuracy == 0.0
    assert report.average_accuracy == 5 / 8
    assert report.balanced_accuracy == pytest.approx(13 / 24)
    assert report.average_worst_accuracy == 0.25
    assert report.aligned_accuracy == 0.8
    assert report.conflicting_accuracy == pytest.approx(1 / 3)
    assert (report.worst_group().y, report.worst_group().a) == (0, 1)


def test_round_trip_through_json(report):
    text = json.dumps(report.to_dict())
    assert EvalReport.from_dict(json.loads(text)) == report
    assert EvalReport.from_json(report.to_json()) == report


def test_without_aligned_attr_and_missing_names():
    rep = build_report(P, Y, A, ["landbird"], [], aligned_attr=None)
    assert rep.aligned_accuracy is None and rep.conflicting_accuracy is None
    assert not any(r.aligned for r in rep.per_group)
    assert rep.per_group[-1].class_name == "class1" and rep.per_group[-1].attr_name == "attr1"
    assert EvalReport.from_json(rep.to_json()) == rep


def test_table_lists_every_group_and_summary(report):
    table = format_group_table(report)
    lines = table.splitlines()
    for r in report.per_group:
        assert any(r.class_name in ln and r.attr_name in ln for ln in lines)
    (worst_line,) = [ln for ln in lines if ln.endswith("*")]
    assert "landbird" in worst_line and "water" in worst_line and "0.00%" in worst_line
    summary = {ln[:22].strip(): ln[22:].split()[0] for ln in lines[-7:]}
    assert summary["worst-group accuracy"] == "0.00%"
    assert summary["worst-class accuracy"] == "50.00%"  # landbird: 2 of 4
    assert summary["average accuracy"] == "62.50%"
    assert summary["conflicting accuracy"] == "33.33%"
    assert "worst group n=1" in table and "worst class n=4" in table
    # header, rule, 4 groups, blank, title, 7 summary lines
    assert len(lines) == 2 + 4 + 1 + 1 + 7


def test_table_shows_each_groups_wilson_interval_computed_by_hand(report):
    # waterbird / land: 1 of 2 right. z = 1.959964: centre (0.5 + z^2/8) / (1 + z^2/2) = 0.5,
    # half-width z * sqrt(0.5^2 / 2 + z^2 / 16) / (1 + z^2/2) = 0.405469 -> [9.45%, 90.55%].
    line = next(ln for ln in format_group_table(report).splitlines() if "waterbird  land" in ln)
    assert "50.00%" in line and "[9.45%, 90.55%]" in line


def test_group_figure_has_one_bar_per_group(report):
    fig = group_accuracy_figure(report, title="val")
    bars = [t for t in fig.data if t.type == "bar"]
    assert sum(len(t.x) for t in bars) == len(report.per_group)
    assert {t.name for t in bars} == {"aligned", "conflicting"}
    conflicting = next(t for t in bars if t.name == "conflicting")
    assert list(conflicting.marker.line.width) == [3, 0]  # worst group outlined
    assert fig.layout.annotations[0].text == "worst (n=1)"
    # waterbird / land (1 of 2): whiskers to its Wilson interval [0.0945, 0.9055]
    assert list(conflicting.x).index("waterbird / land") == 1
    assert conflicting.error_y.array[1] == pytest.approx(0.405469, abs=1e-5)
    assert conflicting.error_y.arrayminus[1] == pytest.approx(0.405469, abs=1e-5)
    assert fig.layout.title.text == "val"


def test_compare_figure_grouped_bars(report):
    other = build_report(Y, Y, A, CLASSES, ATTRS, aligned_attr={0: 0, 1: 1})
    fig = compare_reports_figure({"erm": report, "oracle": other})
    assert fig.layout.barmode == "group"
    assert [t.name for t in fig.data] == ["worst-group", "worst-class", "average", "balanced"]
    # the average's whisker: Wilson on 5 of 8 (erm) and 8 of 8 (oracle), nothing above 1
    assert fig.data[2].error_y.array[1] == 0.0 and fig.data[2].error_y.arrayminus[1] > 0
    assert list(fig.data[0].x) == ["erm", "oracle"]
    assert list(fig.data[0].y) == [0.0, 1.0]


def test_import_is_light():
    code = (
        "import sys, debias_core.evaluate; "
        "bad = [m for m in ('plotly', 'torch', 'gradio') if m in sys.modules]; "
        "assert not bad, bad"
    )
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_runs_table_shows_worst_group_and_class_with_intervals(report):
    from debias_core.evaluate.compare import format_runs_table, run_row
    from debias_core.evaluate.uncertainty import report_intervals
    from debias_core.store.records import Run

    metrics = {"test": report.to_dict()}
    run = Run(1, "train", "erm", {"seed": 0}, "done", metrics, [], "", None, "", None)
    row = run_row(run)
    iv = report_intervals(report)
    assert row["test_wga_interval"]["high"] == iv.worst_group.high and row["test_worst_n"] == 1
    assert row["test_worst_class"]["value"] == 0.5  # landbird: 2 of 4
    lines = format_runs_table([row]).splitlines()
    assert "test WGA [95%]" in lines[0] and "worst class [95%]" in lines[0]
    wc = iv.worst_class
    assert f"50.0 [{100 * wc.low:.1f}, {100 * wc.high:.1f}]" in lines[2]
    failed = Run(2, "train", "erm", {}, "failed", {"error": "x"}, [], "", None, "", None)
    assert run_row(failed)["test_worst_class"] is None
    augmented = Run(
        3, "train", "erm", {"augment": "affine"}, "done", metrics, [], "", None, "", None
    )
    assert "| erm + affine augmentation |" in format_runs_table([run_row(augmented)])
    assert "augmentation" not in lines[2]
