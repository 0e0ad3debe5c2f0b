"""Compare a project's training runs: one JSON-safe row per run, and a text table for the CLI."""

from __future__ import annotations

from datetime import datetime

from debias_core.evaluate.multilabel import SUMMARIES, SUMMARY_TITLES
from debias_core.evaluate.report import EvalReport
from debias_core.evaluate.uncertainty import estimate_dict, report_intervals
from debias_core.store import Run, Store

STANDARD = "multilabel-bce"  # the standard multi-label classifier (train/ml_standard.py)

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
        "augment": run.config.get("augment", "none"),
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
        **multilabel_fields(run.metrics.get("multilabel")),
    }


def multilabel_fields(report: dict | None) -> dict:
    """A multi-label run's summaries (`exclusive_map`, ..., each with `<name>_interval`) and its
    mean bias score over the pairs; {} for a single-label run."""
    if not report:
        return {}
    out = {}
    for name in SUMMARIES:
        out[name] = report.get(name)
        out[f"{name}_interval"] = (report.get("intervals") or {}).get(name)
    scores = [p["bias_score"] for p in report.get("pairs", []) if p.get("bias_score") is not None]
    out["mean_bias_score"] = sum(scores) / len(scores) if scores else None
    return out


def standard_run(store: Store, seed: int | None, exclude: int | None = None) -> Run | None:
    """The standard multi-label classifier to compare with: the newest finished `multilabel-bce`
    run of the same seed, else the newest of any seed (never `exclude`)."""
    runs = [
        r
        for r in store.list_runs(kind="train")
        if r.method == STANDARD and r.status == "done" and r.id != exclude
        and r.metrics.get("multilabel")
    ]  # fmt: skip
    same_seed = [r for r in runs if r.config.get("seed") == seed]
    chosen = (same_seed or runs)[-1:]
    return chosen[0] if chosen else None


def with_standard(rows: list[dict]) -> list[dict]:
    """Each multi-label row gets `standard_run` and the standard's values (`standard_<name>`):
    the newest finished standard run of its seed (else of any seed) among `rows`."""
    standards = [
        r for r in rows if r["method"] == STANDARD and r["status"] == "done" and r.get("all_map")
    ]
    out = []
    for row in rows:
        if "all_map" not in row:
            out.append(row)
            continue
        others = [s for s in standards if s["run"] != row["run"]]
        same = [s for s in others if s["seed"] == row["seed"]]
        pick = (same or others)[-1] if (same or others) else None
        extra = {"standard_run": None if pick is None else pick["run"]}
        for name in (*SUMMARIES, "mean_bias_score"):
            extra[f"standard_{name}"] = None if pick is None else pick.get(name)
        out.append(row | extra)
    return out


def runs_table(store: Store) -> list[dict]:
    """Every training run of the project, oldest first (multi-label runs with the standard
    classifier's values beside theirs)."""
    return with_standard([run_row(run) for run in store.list_runs(kind="train")])


def format_multilabel_runs(rows: list[dict]) -> str:
    """The multi-label runs' mAPs (%, 95% bootstrap interval) and mean bias score, each with
    the standard classifier's value in parentheses; '' when there is no multi-label run."""
    rows = [r for r in rows if "all_map" in r]
    if not rows:
        return ""
    titles = ["run", "method", "seed", *(SUMMARY_TITLES[n] for n in SUMMARIES), "mean bias"]
    cells = [titles]
    for r in rows:
        line = [str(r["run"]), r["method"], str(r["seed"])]
        for name in SUMMARIES:
            line.append(_with_standard(r, name))
        bias, std = r.get("mean_bias_score"), r.get("standard_mean_bias_score")
        text = "-" if bias is None else f"{bias:.2f}"
        line.append(text + ("" if std is None else f" ({std:.2f})"))
        cells.append(line)
    widths = [max(len(c[i]) for c in cells) for i in range(len(titles))]
    body = [
        "| " + " | ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)) + " |" for c in cells
    ]
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    note = "multi-label runs (standard classifier's value in parentheses)"
    return "\n".join([note, body[0], rule, *body[1:]])


def _with_standard(row: dict, name: str) -> str:
    interval, value = row.get(f"{name}_interval"), row.get(name)
    if value is None:
        text = "-"
    elif interval:
        text = f"{100 * value:.1f} [{100 * interval['low']:.1f}, {100 * interval['high']:.1f}]"
    else:
        text = f"{100 * value:.1f}"
    std = row.get(f"standard_{name}")
    return text + ("" if std is None else f" ({100 * std:.1f})")


def method_label(method: str, augment: str = "none") -> str:
    """'erm + affine augmentation': the method and how its training images were augmented."""
    return method if augment == "none" else f"{method} + {augment} augmentation"


def _cell(key: str, row: dict) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    if key == "method":
        value = method_label(value, row.get("augment", "none"))
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
