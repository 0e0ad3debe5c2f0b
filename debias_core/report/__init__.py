"""The shareable fairness report: one self-contained HTML file built from a project store.

`build_fairness_report(store, options)` returns the view model (`FairnessReport`);
`write_report(store, out, options)` also renders and writes it. The CLI's `report` command and
the app's Report tab call the same function.
"""

from debias_core.report.build import build_fairness_report, check_options, write_report
from debias_core.report.view import FairnessReport, ReportOptions

__all__ = [
    "FairnessReport",
    "ReportOptions",
    "build_fairness_report",
    "check_options",
    "write_report",
]
