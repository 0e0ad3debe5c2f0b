"""The report command: a shareable, self-contained HTML fairness report of a project."""

from __future__ import annotations

import sys
from pathlib import Path

from debias_core.cli.common import add_project_arg, open_project, progress_printer


def parse_run_ids(text: str | None) -> tuple[int, ...] | None:
    """'1,5,7' -> (1, 5, 7); None or empty -> None (the default runs)."""
    if text is None or not text.strip():
        return None
    ids = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit():
            raise ValueError(f"--runs takes run ids separated by commas, e.g. 1,5,7; got {text!r}")
        ids.append(int(part))
    return tuple(ids)


def parse_methods(text: str | None) -> tuple[str, ...] | None:
    if text is None or not text.strip():
        return None
    names = tuple(m.strip() for m in text.split(",") if m.strip())
    if not names:
        raise ValueError(f"--methods takes method names separated by commas; got {text!r}")
    return names


def cmd_report(args) -> int:
    from debias_core.report import ReportOptions, write_report

    options = ReportOptions(runs=parse_run_ids(args.runs), methods=parse_methods(args.methods))
    options.check_inputs()
    out, report = write_report(open_project(args), Path(args.out), options, progress_printer())
    size = out.stat().st_size / 2**20
    runs = ", ".join(str(r.run_id) for r in report.results.runs) or "none"
    print(f"wrote {out} ({size:.1f} MB; runs {runs}; built in {report.seconds:.1f} s)")
    if not report.results.runs:
        print(f"note: {report.results.choice_note}", file=sys.stderr)
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "report",
        help="write a shareable fairness report: one HTML file that opens offline and prints",
    )
    add_project_arg(p)
    p.add_argument("--out", required=True, help="the HTML file to write (replaced if it exists)")
    p.add_argument(
        "--runs",
        help="training run ids, comma-separated, the first is the baseline (default: the ERM run "
        "and the best run by validation worst-group accuracy)",
    )
    p.add_argument(
        "--methods", help="generation methods to show, comma-separated (default: every method)"
    )
    p.set_defaults(func=cmd_report)


__all__ = ["add_parsers"]
