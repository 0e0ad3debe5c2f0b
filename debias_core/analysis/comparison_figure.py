"""Two runs' accuracy per group side by side, each bar with its Wilson 95% whisker.

One row per group (horizontal, as in group_figures, so 80 labels stay readable), the baseline's
bar and the method's bar in each row, rows sorted by the baseline's accuracy (its worst groups
on top, where the method's lift shows); each run's worst group is marked and named with its n in
the legend. Plotly is imported inside the function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from debias_core.evaluate.report import EvalReport

BASELINE_COLOR = "#9d9d9d"
METHOD_COLOR = "#54a24b"
ROW_PX = 22


def _whiskers(values: list[float], intervals: list[tuple[float, float]]) -> dict:
    return {
        "type": "data",
        "symmetric": False,
        "array": [hi - v for v, (_, hi) in zip(values, intervals, strict=True)],
        "arrayminus": [v - lo for v, (lo, _) in zip(values, intervals, strict=True)],
        "thickness": 1.5,
        "width": 3,
    }


def side_by_side_groups(
    baseline: tuple[str, EvalReport], method: tuple[str, EvalReport], title: str
) -> go.Figure:
    """Per-group accuracy of `baseline` and `method` ((label, report) each, same test groups)."""
    import plotly.graph_objects as go

    from debias_core.evaluate.uncertainty import report_intervals

    (base_label, base), (method_label, other) = baseline, method
    base_rows = {(r.y, r.a): r for r in base.per_group}
    other_rows = {(r.y, r.a): r for r in other.per_group}
    if set(base_rows) != set(other_rows):
        raise ValueError("the two runs were evaluated on different groups")
    order = sorted(base_rows, key=lambda g: (base_rows[g].accuracy, other_rows[g].accuracy))
    labels = [f"{base_rows[g].label} (n={base_rows[g].n})" for g in order]
    fig = go.Figure()
    for label, report, rows, color in (
        (method_label, other, other_rows, METHOD_COLOR),
        (base_label, base, base_rows, BASELINE_COLOR),
    ):
        per_group = report_intervals(report).per_group
        values = [rows[g].accuracy for g in order]
        intervals = [(per_group[g].low, per_group[g].high) for g in order]
        worst = report.worst_group()
        fig.add_bar(
            y=labels,
            x=values,
            orientation="h",
            name=f"{label} · worst {worst.label} {worst.accuracy:.1%} (n={worst.n})",
            marker_color=color,
            marker_line_color="black",
            marker_line_width=[2 if (worst.y, worst.a) == g else 0 for g in order],
            error_x=_whiskers(values, intervals),
            customdata=[[100 * lo, 100 * hi] for lo, hi in intervals],
            hovertemplate=(
                "%{y}<br>accuracy %{x:.1%}<br>95% interval [%{customdata[0]:.1f}, "
                "%{customdata[1]:.1f}]%<extra>" + label + "</extra>"
            ),
        )
    fig.update_layout(
        title=title,
        barmode="group",
        height=max(360, 120 + ROW_PX * len(order)),
        xaxis={"range": [0, 1.05], "title": "test accuracy (95% Wilson whiskers)"},
        yaxis={"autorange": "reversed", "automargin": True},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
        margin={"t": 110},
    )
    return fig
