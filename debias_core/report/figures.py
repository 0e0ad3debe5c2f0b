"""The report's charts: accuracy per group and the summary metrics, each with 95% error bars.

Plotly is imported inside the functions, like evaluate/report.py, so importing stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from debias_core.evaluate.uncertainty import Estimate

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from debias_core.report.view import RunView

PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#9d755d")


def _bars(fig, x: list[str], estimates: list[Estimate], name: str, color: str, hover: list[str]):
    fig.add_bar(
        x=x,
        y=[e.value for e in estimates],
        name=name,
        marker_color=color,
        error_y={
            "type": "data",
            "symmetric": False,
            "array": [e.high - e.value for e in estimates],
            "arrayminus": [e.value - e.low for e in estimates],
            "thickness": 1.2,
            "width": 3,
        },
        customdata=hover,
        hovertemplate="%{x}<br>%{customdata}<extra>" + name + "</extra>",
    )


def _layout(fig, title: str, height: int) -> None:
    fig.update_layout(
        title={"text": title, "x": 0, "font": {"size": 15}},
        barmode="group",
        yaxis={"range": [0, 1.05], "tickformat": ".0%", "title": "accuracy (95% interval)"},
        legend={"orientation": "h", "y": -0.25},
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        height=height,
        template="plotly_white",
        font={"family": "system-ui, -apple-system, Segoe UI, sans-serif"},
    )


def group_interval_figure(runs: list[RunView]) -> go.Figure:
    """Grouped bars: test accuracy per (class, context) group, one colour per run."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, run in enumerate(runs):
        rows = run.report.per_group
        estimates = [run.intervals.per_group[(r.y, r.a)] for r in rows]
        hover = [
            f"{'aligned' if r.aligned else 'conflicting'} · n={r.n} · {e.as_percent()}"
            for r, e in zip(rows, estimates, strict=True)
        ]
        _bars(fig, [r.label for r in rows], estimates, run.label, PALETTE[i % 7], hover)
    _layout(fig, "Test accuracy per group", 420)
    return fig


def summary_interval_figure(runs: list[RunView]) -> go.Figure:
    """Worst-group, average and balanced accuracy per run, with their intervals."""
    import plotly.graph_objects as go

    fig = go.Figure()
    metrics = ("worst-group", "average", "balanced")
    for i, run in enumerate(runs):
        values = [run.intervals.worst_group, run.intervals.average, run.balanced]
        hover = [e.as_percent() for e in values]
        _bars(fig, list(metrics), values, run.label, PALETTE[i % 7], hover)
    _layout(fig, "Summary metrics", 340)
    return fig
