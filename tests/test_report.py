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
    summary = dict(ln.rsplit(None, 1) for ln in lines[-6:])
    assert summary["worst-group accuracy"].strip() == "0.00%"
    assert summary["average accuracy"].strip() == "62.50%"
    assert summary["conflicting accuracy"].strip() == "33.33%"
    # header, rule, 4 groups, blank, 6 summary lines
    assert len(lines) == 2 + 4 + 1 + 6


def test_group_figure_has_one_bar_per_group(report):
    fig = group_accuracy_figure(report, title="val")
    bars = [t for t in fig.data if t.type == "bar"]
    assert sum(len(t.x) for t in bars) == len(report.per_group)
    assert {t.name for t in bars} == {"aligned", "conflicting"}
    conflicting = next(t for t in bars if t.name == "conflicting")
    assert list(conflicting.marker.line.width) == [3, 0]  # worst group outlined
    assert fig.layout.annotations[0].text == "worst"
    assert fig.layout.title.text == "val"


def test_compare_figure_grouped_bars(report):
    other = build_report(Y, Y, A, CLASSES, ATTRS, aligned_attr={0: 0, 1: 1})
    fig = compare_reports_figure({"erm": report, "oracle": other})
    assert fig.layout.barmode == "group"
    assert [t.name for t in fig.data] == ["worst-group", "average", "balanced"]
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
