"""The evaluation report of one run: per-group rows, summary metrics, a text table and figures.

Plotly is imported inside the figure functions so that importing this module stays light.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from debias_core.evaluate.metrics import (
    AlignedAttr,
    aligned_conflicting_accuracy,
    aligned_mask,
    average_accuracy,
    average_worst_accuracy,
    balanced_accuracy,
    per_group_accuracy,
    worst_group_accuracy,
)
from debias_core.evaluate.uncertainty import Estimate, ReportIntervals, report_intervals

if TYPE_CHECKING:
    import plotly.graph_objects as go

ALIGNED_COLOR = "#4c78a8"
CONFLICTING_COLOR = "#f58518"


@dataclass(frozen=True)
class GroupRow:
    """One group `(y, a)` of the evaluated split."""

    y: int
    a: int
    class_name: str
    attr_name: str
    n: int
    accuracy: float
    aligned: bool

    @property
    def label(self) -> str:
        return f"{self.class_name} / {self.attr_name}"


@dataclass(frozen=True)
class EvalReport:
    """Per-group accuracies and the summary metrics of one evaluation.

    `aligned_accuracy` / `conflicting_accuracy` are None when no aligned attribute was given.
    """

    per_group: list[GroupRow]
    worst_group_accuracy: float
    average_accuracy: float
    balanced_accuracy: float
    average_worst_accuracy: float
    aligned_accuracy: float | None = None
    conflicting_accuracy: float | None = None

    def worst_group(self) -> GroupRow:
        """The row with the lowest accuracy (the first such row on ties)."""
        return min(self.per_group, key=lambda r: r.accuracy)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict (lists, str, int, float, bool, None)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalReport:
        rows = [GroupRow(**r) for r in d["per_group"]]
        return cls(**{**d, "per_group": rows})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> EvalReport:
        return cls.from_dict(json.loads(text))


def _name(names: list[str], i: int, kind: str) -> str:
    return names[i] if i < len(names) else f"{kind}{i}"


def build_report(
    preds: np.ndarray,
    y: np.ndarray,
    a: np.ndarray,
    class_names: list[str],
    attr_names: list[str],
    aligned_attr: AlignedAttr | None,
) -> EvalReport:
    """Compute every single-label metric for one split. Missing names fall back to `class3`.

    With `aligned_attr=None` (no known majority attribute) no group is marked aligned and the
    aligned/conflicting accuracies are None.
    """
    y_arr, a_arr = np.asarray(y), np.asarray(a)
    accs = per_group_accuracy(preds, y, a)
    aligned = (
        aligned_mask(y, a, aligned_attr) if aligned_attr is not None else np.zeros(len(y_arr), bool)
    )
    rows = []
    for (gy, ga), acc in accs.items():
        in_group = (y_arr == gy) & (a_arr == ga)
        rows.append(
            GroupRow(
                y=gy,
                a=ga,
                class_name=_name(class_names, gy, "class"),
                attr_name=_name(attr_names, ga, "attr"),
                n=int(in_group.sum()),
                accuracy=acc,
                aligned=bool(aligned[in_group][0]),
            )
        )
    ali, con = None, None
    if aligned_attr is not None and aligned.any() and not aligned.all():
        ali, con = aligned_conflicting_accuracy(preds, y, a, aligned_attr)
    return EvalReport(
        per_group=rows,
        worst_group_accuracy=worst_group_accuracy(preds, y, a),
        average_accuracy=average_accuracy(preds, y),
        balanced_accuracy=balanced_accuracy(preds, y, a),
        average_worst_accuracy=average_worst_accuracy(preds, y, a),
        aligned_accuracy=ali,
        conflicting_accuracy=con,
    )


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _interval(e: Estimate) -> str:
    return f"[{_pct(e.low)}, {_pct(e.high)}]"


def _group_lines(report: EvalReport, intervals: ReportIntervals) -> list[str]:
    """Header, rule and one aligned line per group (with its Wilson 95% interval); the worst
    group ends with `*`."""
    worst = report.worst_group()
    header = ("y", "a", "class", "attribute", "n", "accuracy", "95% interval", "kind", "")
    body = [
        (
            str(r.y),
            str(r.a),
            r.class_name,
            r.attr_name,
            str(r.n),
            _pct(r.accuracy),
            _interval(intervals.per_group[(r.y, r.a)]),
            "aligned" if r.aligned else "conflicting",
            "*" if r == worst else "",
        )
        for r in report.per_group
    ]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    numeric = {0, 1, 4, 5, 6}
    lines = [
        "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in [header, *body]
    ]
    lines.insert(1, "-" * len(lines[0]))
    return lines


def format_group_table(report: EvalReport) -> str:
    """A plain-text table, one row per group (worst marked `*`), then the summary lines.

    Every group's accuracy has its Wilson 95% interval; worst-group and worst-class accuracy a
    bootstrap one (test images resampled within groups) and the worst group's n, since with ~25
    images a group one wrong image moves it 4 points.
    """
    iv = report_intervals(report)
    wg, wc = iv.worst_group, iv.worst_class
    summary = [
        ("worst-group accuracy", wg.value, f"{_interval(wg)} bootstrap; worst group n={wg.n}"),
        ("worst-class accuracy", wc.value, f"{_interval(wc)} bootstrap; worst class n={wc.n}"),
        ("average accuracy", report.average_accuracy, f"{_interval(iv.average)} Wilson"),
        ("balanced accuracy", report.balanced_accuracy, ""),
        ("average worst accuracy", report.average_worst_accuracy, ""),
        ("aligned accuracy", report.aligned_accuracy, ""),
        ("conflicting accuracy", report.conflicting_accuracy, ""),
    ]
    label_w = max(len(k) for k, _, _ in summary)
    lines = [f"{k.ljust(label_w)}  {_pct(v):>7}  {note}".rstrip() for k, v, note in summary]
    return "\n".join([*_group_lines(report, iv), "", "95% intervals:", *lines])


def group_accuracy_figure(report: EvalReport, title: str = "Accuracy per group") -> go.Figure:
    """Bar per group, coloured aligned vs conflicting, each with its Wilson 95% interval as a
    whisker; the worst group outlined and annotated with its n."""
    import plotly.graph_objects as go

    worst = report.worst_group()
    per_group = report_intervals(report).per_group
    fig = go.Figure()
    for aligned, name, color in (
        (True, "aligned", ALIGNED_COLOR),
        (False, "conflicting", CONFLICTING_COLOR),
    ):
        rows = [r for r in report.per_group if r.aligned == aligned]
        if not rows:
            continue
        fig.add_bar(
            x=[r.label for r in rows],
            y=[r.accuracy for r in rows],
            name=name,
            marker_color=color,
            marker_line_color="black",
            marker_line_width=[3 if r == worst else 0 for r in rows],
            error_y=_whiskers([per_group[(r.y, r.a)] for r in rows]),
            customdata=[
                [r.n, 100 * per_group[(r.y, r.a)].low, 100 * per_group[(r.y, r.a)].high]
                for r in rows
            ],
            hovertemplate=(
                "%{x}<br>accuracy %{y:.3f}<br>95% interval [%{customdata[1]:.1f}, "
                "%{customdata[2]:.1f}]%<br>n=%{customdata[0]}<extra></extra>"
            ),
        )
    fig.add_annotation(
        x=worst.label, y=worst.accuracy, text=f"worst (n={worst.n})", showarrow=True, arrowhead=2
    )
    # Keep the bars in the report's (y, a) order whichever trace they belong to.
    order = [r.label for r in report.per_group]
    # Overlay, not group: each category holds one bar, so it should sit centred on its tick.
    fig.update_layout(title=title, barmode="overlay", yaxis_range=[0, 1.05], yaxis_title="accuracy")
    fig.update_xaxes(categoryorder="array", categoryarray=order)
    return fig


def _whiskers(estimates: list[Estimate]) -> dict:
    """Plotly asymmetric error bars from value to each end of the intervals."""
    return {
        "type": "data",
        "symmetric": False,
        "array": [e.high - e.value for e in estimates],
        "arrayminus": [e.value - e.low for e in estimates],
    }


def compare_reports_figure(named_reports: dict[str, EvalReport]) -> go.Figure:
    """Grouped bars of worst-group, worst-class, average and balanced accuracy, one group of bars
    per run; the first three with their 95% intervals as whiskers."""
    import plotly.graph_objects as go

    runs = list(named_reports)
    intervals = {r: report_intervals(named_reports[r]) for r in runs}
    metrics = (
        ("worst-group", "worst_group"),
        ("worst-class", "worst_class"),
        ("average", "average"),
    )
    fig = go.Figure()
    for label, attr in metrics:
        estimates = [getattr(intervals[r], attr) for r in runs]
        fig.add_bar(
            x=runs, y=[e.value for e in estimates], name=label, error_y=_whiskers(estimates)
        )
    fig.add_bar(x=runs, y=[named_reports[r].balanced_accuracy for r in runs], name="balanced")
    fig.update_layout(
        barmode="group", title="Runs compared", yaxis_range=[0, 1.05], yaxis_title="accuracy"
    )
    return fig
