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


def _group_lines(report: EvalReport) -> list[str]:
    """Header, rule and one aligned line per group; the worst group ends with `*`."""
    worst = report.worst_group()
    header = ("y", "a", "class", "attribute", "n", "accuracy", "kind", "")
    body = [
        (
            str(r.y),
            str(r.a),
            r.class_name,
            r.attr_name,
            str(r.n),
            _pct(r.accuracy),
            "aligned" if r.aligned else "conflicting",
            "*" if r == worst else "",
        )
        for r in report.per_group
    ]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    numeric = {0, 1, 4, 5}
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
    """A plain-text table, one row per group (worst marked `*`), then the summary lines."""
    summary = [
        ("worst-group accuracy", report.worst_group_accuracy),
        ("average accuracy", report.average_accuracy),
        ("balanced accuracy", report.balanced_accuracy),
        ("average worst accuracy", report.average_worst_accuracy),
        ("aligned accuracy", report.aligned_accuracy),
        ("conflicting accuracy", report.conflicting_accuracy),
    ]
    label_w = max(len(k) for k, _ in summary)
    lines = [f"{k.ljust(label_w)}  {_pct(v):>7}" for k, v in summary]
    return "\n".join([*_group_lines(report), "", *lines])


def group_accuracy_figure(report: EvalReport, title: str = "Accuracy per group") -> go.Figure:
    """Bar per group, coloured aligned vs conflicting, the worst group outlined and annotated."""
    import plotly.graph_objects as go

    worst = report.worst_group()
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
            customdata=[r.n for r in rows],
            hovertemplate="%{x}<br>accuracy %{y:.3f}<br>n=%{customdata}<extra></extra>",
        )
    fig.add_annotation(x=worst.label, y=worst.accuracy, text="worst", showarrow=True, arrowhead=2)
    # Keep the bars in the report's (y, a) order whichever trace they belong to.
    order = [r.label for r in report.per_group]
    # Overlay, not group: each category holds one bar, so it should sit centred on its tick.
    fig.update_layout(title=title, barmode="overlay", yaxis_range=[0, 1.05], yaxis_title="accuracy")
    fig.update_xaxes(categoryorder="array", categoryarray=order)
    return fig


def compare_reports_figure(named_reports: dict[str, EvalReport]) -> go.Figure:
    """Grouped bars of worst-group, average and balanced accuracy, one group of bars per run."""
    import plotly.graph_objects as go

    runs = list(named_reports)
    metrics = (
        ("worst-group", "worst_group_accuracy"),
        ("average", "average_accuracy"),
        ("balanced", "balanced_accuracy"),
    )
    fig = go.Figure()
    for label, attr in metrics:
        fig.add_bar(x=runs, y=[getattr(named_reports[r], attr) for r in runs], name=label)
    fig.update_layout(
        barmode="group", title="Runs compared", yaxis_range=[0, 1.05], yaxis_title="accuracy"
    )
    return fig
