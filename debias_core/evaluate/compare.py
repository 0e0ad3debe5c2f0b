"""Compare a project's training runs: one JSON-safe row per run, and a text table for the CLI."""

from __future__ import annotations

from datetime import datetime

from debias_core.evaluate.report import EvalReport
from debias_core.evaluate.uncertainty import estimate_dict, report_intervals
from debias_core.store import Run, Store

COLUMNS = (
    ("run", "run"),
    ("method", "method"),
    ("synthetic", "synthetic"),
    ("seed", "seed"),
    ("status", "status"),
    ("test_wga", "test WGA [95%]"),
    ("test_worst_n", "worst n"),
    ("test_worst_class", "worst class [95%]"),
    ("test_avg", "test avg"),
    ("test_balanced", "test bal"),
    ("wall_s", "wall s"),
    ("n_synthetic", "n synth"),
)


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def interval_fields(test: dict) -> dict:
    """Worst-group and worst-class accuracy with 95% bootstrap intervals (None without a report)."""
    if not test.get("per_group"):
        return {"test_wga_interval": None, "test_worst_n": None, "test_worst_class": None}
    iv = report_intervals(EvalReport.from_dict(test))
    return {
        "test_wga_interval": estimate_dict(iv.worst_group),
        "test_worst_n": iv.worst_group.n,
        "test_worst_class": estimate_dict(iv.worst_class),
    }


def run_row(run: Run) -> dict:
    """One run's summary: config, test metrics (None when it has none) with the worst group's
    and worst class's intervals, wall time, synthetic use."""
    test = run.metrics.get("test") or {}
    return {
        "run": run.id,
        "method": run.method,
        "params": dict(run.config.get("params") or {}),
        "synthetic": run.config.get("synthetic", "none"),
        # the --synthetic-method / --synthetic-job filter (None: any method, any job)
        "synthetic_method": run.config.get("synthetic_method"),
        "synthetic_job": run.config.get("synthetic_job"),
        "seed": run.config.get("seed"),
        "status": run.status,
        "test_wga": test.get("worst_group_accuracy"),
        "test_avg": test.get("average_accuracy"),
        "test_balanced": test.get("balanced_accuracy"),
        **interval_fields(test),
        "wall_s": _seconds(run.created_at, run.finished_at),
        "n_synthetic": len(run.synthetic_ids or []),
    }


def runs_table(store: Store) -> list[dict]:
    """Every training run of the project, oldest first."""
    return [run_row(run) for run in store.list_runs(kind="train")]


def _cell(key: str, row: dict) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    if key == "method" and row.get("params"):
        return value + " (" + ", ".join(f"{k}={v}" for k, v in sorted(row["params"].items())) + ")"
    if key == "synthetic":
        return _synthetic_cell(row)
    if key == "test_wga" and row.get("test_wga_interval"):
        value = row["test_wga_interval"]
    if isinstance(value, dict):  # an interval: "12.0 [4.1, 25.0]"
        return f"{100 * value['value']:.1f} [{100 * value['low']:.1f}, {100 * value['high']:.1f}]"
    if key.startswith("test_") and isinstance(value, float):
        return f"{100 * value:.1f}"
    if key == "wall_s":
        return f"{value:.1f}"
    return str(value)


def _synthetic_cell(row: dict) -> str:
    """'accepted of dbb, job 3': which generated samples the run was allowed to learn from."""
    text = str(row["synthetic"])
    if text == "none":
        return text
    if row.get("synthetic_method") is not None:
        text += f" of {row['synthetic_method']}"
    if row.get("synthetic_job") is not None:
        text += f" from job {row['synthetic_job']}"
    return text


def format_runs_table(rows: list[dict]) -> str:
    """A markdown table (accuracies in %), readable as plain text too."""
    if not rows:
        return "no training runs yet"
    cells = [[title for _, title in COLUMNS]] + [[_cell(k, r) for k, _ in COLUMNS] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(c) for c in cells[1:])])
