"""Per-group bar charts that stay readable at 80+ groups: horizontal, sorted, zeros marked.

A vertical chart of 80 groups has unreadable tick labels, and a group with 0 images or 0%
accuracy draws no bar at all, so the groups that matter most vanish. Here each group is one row
(labels at full length), rows are sorted by value (smallest first, at the top), every row carries
its value as text, and a zero gets a marker as well. Plotly is imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from debias_core.bias.stats import GroupStat
    from debias_core.evaluate.report import EvalReport

ALIGNED_COLOR = "#4c78a8"
CONFLICTING_COLOR = "#f58518"
EXTRA_COLOR = "#54a24b"
ZERO_COLOR = "#d62728"
ROW_PX = 18  # height of one group's row: 80 groups -> a 1,560 px chart, labels at 11 px


@dataclass(frozen=True)
class GroupBar:
    """One group's row: its main value, and an optional stacked extra (e.g. generated images)."""

    label: str
    value: float
    aligned: bool
    extra: float = 0.0
    hover: str = ""
    interval: tuple[float, float] | None = None  # (low, high) of `value`: drawn as a whisker


def sorted_bars(bars: Sequence[GroupBar]) -> list[GroupBar]:
    """Smallest value first (then the smaller extra, then the label): the rarest on top."""
    return sorted(bars, key=lambda b: (b.value, b.extra, b.label))


def _whiskers(bars: Sequence[GroupBar]) -> dict | None:
    """Asymmetric error bars from each bar's value to its interval's ends (None without)."""
    if not any(b.interval for b in bars):
        return None
    ends = [b.interval or (b.value, b.value) for b in bars]
    return {
        "type": "data",
        "symmetric": False,
        "array": [hi - b.value for b, (_, hi) in zip(bars, ends, strict=True)],
        "arrayminus": [b.value - lo for b, (lo, _) in zip(bars, ends, strict=True)],
        "thickness": 1.5,
        "width": 3,
    }


def group_bars_figure(
    bars: Sequence[GroupBar],
    title: str,
    x_title: str,
    value_text: Callable[[GroupBar], str] = lambda b: f"{b.value:g}",
    extra_name: str = "",
    x_range: tuple[float, float] | None = None,
) -> go.Figure:
    """Horizontal bars, one row per group, sorted; zero rows get a marker and a '0' label."""
    import plotly.graph_objects as go

    rows = sorted_bars(bars)
    order = [b.label for b in rows]
    fig = go.Figure()
    for aligned, name, color in (
        (True, "aligned", ALIGNED_COLOR),
        (False, "conflicting", CONFLICTING_COLOR),
    ):
        part = [b for b in rows if b.aligned == aligned]
        if part:
            fig.add_bar(
                y=[b.label for b in part],
                x=[b.value for b in part],
                orientation="h",
                name=name,
                marker_color=color,
                customdata=[b.hover for b in part],
                hovertemplate="%{y}: %{x}<br>%{customdata}<extra></extra>",
                error_x=_whiskers(part),
            )
    if extra_name and any(b.extra for b in rows):
        fig.add_bar(
            y=order, x=[b.extra for b in rows], orientation="h", name=extra_name,
            marker_color=EXTRA_COLOR,
        )  # fmt: skip
    zeros = [b for b in rows if b.value == 0 and b.extra == 0]
    if zeros:
        fig.add_scatter(
            y=[b.label for b in zeros],
            x=[0] * len(zeros),
            mode="markers",
            name="zero",
            marker={"symbol": "x-thin-open", "size": 10, "color": ZERO_COLOR, "line_width": 2},
            hoverinfo="skip",
        )
    fig.add_scatter(  # every row's value as text at the end of its bar, zeros included
        y=order,
        x=[b.value + b.extra for b in rows],
        mode="text",
        text=[f"  {value_text(b)}" for b in rows],
        textposition="middle right",
        textfont={"size": 10},
        showlegend=False,
        hoverinfo="skip",
    )
    fig.update_layout(
        title=title,
        barmode="stack",
        height=max(260, 110 + ROW_PX * len(rows)),
        margin={"l": 10, "r": 40, "t": 50, "b": 40},
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        xaxis_title=x_title,
    )
    fig.update_yaxes(
        categoryorder="array", categoryarray=order, autorange="reversed", automargin=True,
        tickfont={"size": 11}, dtick=1,
    )  # fmt: skip
    if x_range is not None:
        fig.update_xaxes(range=list(x_range))
    return fig


def group_counts_figure(stats: Sequence[GroupStat]) -> go.Figure:
    """Real train images per group (accepted generated ones stacked on), rarest group on top."""
    bars = [
        GroupBar(
            label=s.label,
            value=s.train,
            aligned=s.aligned,
            extra=s.generated_accepted,
            hover=f"val {s.val} · test {s.test} · generated accepted {s.generated_accepted}",
        )
        for s in stats
    ]

    def text(b: GroupBar) -> str:
        return f"{b.value:g} + {b.extra:g}" if b.extra else f"{b.value:g}"

    return group_bars_figure(
        bars,
        title=f"Real train images per group ({len(bars)} groups, rarest first)",
        x_title="images",
        value_text=text,
        extra_name="generated (accepted)",
    )


def group_accuracy_bars(report: EvalReport, title: str = "Accuracy per group") -> go.Figure:
    """Accuracy per group of one evaluation, worst group on top, each with its Wilson 95%
    interval as a whisker and its n; the title adds worst-group and worst-class accuracy with
    their bootstrap intervals and the worst group's n."""
    from debias_core.evaluate.uncertainty import report_intervals

    iv = report_intervals(report)
    bars = []
    for r in report.per_group:
        e = iv.per_group[(r.y, r.a)]
        hover = f"n = {r.n} · 95% interval {e.as_percent()}"
        bars.append(GroupBar(r.label, r.accuracy, r.aligned, hover=hover, interval=(e.low, e.high)))
    wg, wc = iv.worst_group, iv.worst_class
    subtitle = (
        f"worst group {wg.as_percent()} (n = {wg.n}) · worst class {wc.as_percent()} · "
        "95% intervals"
    )
    return group_bars_figure(
        bars,
        f"{title}<br><sub>{subtitle}</sub>",
        "accuracy",
        value_text=lambda b: f"{b.value:.1%}",
        x_range=(0.0, 1.12),
    )
