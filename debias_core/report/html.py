"""Render a `FairnessReport` as one self-contained HTML file.

No network: plotly.js is inlined from the plotly package, images are base64 thumbnails, styles
are inline. A print stylesheet (and opening every <details> before printing) makes the browser's
"Save as PDF" a complete document. jinja2 (a Gradio dependency) autoescapes every value.
"""

from __future__ import annotations

import json
from functools import cache

from debias_core.evaluate.uncertainty import Estimate
from debias_core.report.template import TEMPLATE
from debias_core.report.view import FairnessReport

LONG_TABLE = 16  # group tables longer than this fold away on screen (a printout unfolds them)


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def est(e: Estimate | None) -> str:
    """'62.0% [48.3, 74.2]'."""
    if e is None:
        return "–"
    return f"{100 * e.value:.1f}% [{100 * e.low:.1f}, {100 * e.high:.1f}]"


def num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def pretty(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def compact(value) -> str:
    """One wrapped line: a config reads as a sentence, not a 15-line block."""
    return json.dumps(value, sort_keys=True, default=str, separators=(", ", ": "))


def stamp(text: str | None) -> str:
    return (text or "")[:19].replace("T", " ")


@cache
def _environment():
    import jinja2

    env = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(pct=pct, est=est, num=num, pretty=pretty, compact=compact, stamp=stamp)
    return env


def figure_div(fig, div_id: str) -> str:
    """A plotly figure as a <div> + script (plotly.js itself is inlined once, in <head>)."""
    if fig is None:
        return ""
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )


@cache
def plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def render_html(report: FairnessReport) -> str:
    from markupsafe import Markup

    figures = {
        "groups": Markup(figure_div(report.results.figure_groups, "fig-groups")),
        "summary": Markup(figure_div(report.results.figure_summary, "fig-summary")),
    }
    template = _environment().from_string(TEMPLATE)
    shown = [c for grid in report.generated.grids for c in grid.accepted + grid.rejected]
    return template.render(
        r=report,
        figures=figures,
        plotly_js=Markup(plotly_js()),
        lifts=_lifts_by_run(report),
        shown=shown,
        LONG=LONG_TABLE,
    )


def _lifts_by_run(report: FairnessReport) -> dict:
    return {lift.run_id: lift for lift in report.results.lifts}
