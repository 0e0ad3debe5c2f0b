"""The result section: chosen runs side by side with intervals, and the lift over the baseline.

Intervals come from `evaluate/uncertainty.py` only. With several seeds of both the run's
configuration and the baseline's, the lift is paired by seed; with one seed each it is a per-run
difference, shown with whether the two worst-group intervals overlap.
"""

from __future__ import annotations

import json
from pathlib import Path

from debias_core.evaluate.compare import method_label
from debias_core.evaluate.report import EvalReport
from debias_core.evaluate.uncertainty import (
    balanced_interval,
    counts_from_accuracy,
    paired_lift,
    report_intervals,
)
from debias_core.report.view import LiftView, ReportOptions, ResultsSection, RunView
from debias_core.store import Run, Store

BASELINE_METHOD = "erm"


def finished_runs(store: Store) -> list[Run]:
    """Training runs with a test report, oldest first."""
    return [r for r in store.list_runs("train") if r.status == "done" and r.metrics.get("test")]


def best_val_wga(run: Run) -> float | None:
    """The best validation worst-group accuracy of the run's epochs (the model it kept)."""
    values = [h["val_wga"] for h in run.metrics.get("history", []) if "val_wga" in h]
    return max(values) if values else None


def default_runs(runs: list[Run]) -> tuple[list[Run], str]:
    """The ERM baseline on real data (newest) and the best other run by validation WGA."""
    if not runs:
        return [], "no finished training run yet: train one (Train & Evaluate, or `train DIR`)"
    erm = [r for r in runs if r.method == BASELINE_METHOD and r.config.get("synthetic") == "none"]
    erm = erm or [r for r in runs if r.method == BASELINE_METHOD]
    baseline = erm[-1] if erm else runs[0]
    others = [r for r in runs if r.id != baseline.id]
    scored = [r for r in others if best_val_wga(r) is not None]
    if not scored:
        return [baseline], f"Run {baseline.id} ({baseline.method}) is the only finished run"
    best = max(scored, key=lambda r: (best_val_wga(r), r.id))
    kind = "the ERM baseline" if baseline.method == BASELINE_METHOD else "the first run"
    return [baseline, best], (
        f"Run {baseline.id} is {kind}; run {best.id} has the best validation worst-group "
        f"accuracy ({100 * best_val_wga(best):.1f}%) of the other {len(others)} run(s)"
    )


def chosen_runs(store: Store, options: ReportOptions) -> tuple[list[Run], str]:
    runs = finished_runs(store)
    if options.runs is None:
        return default_runs(runs)
    by_id = {r.id: r for r in runs}
    for run_id in options.runs:
        if run_id not in by_id:
            valid = ", ".join(str(r.id) for r in runs) or "none yet"
            raise ValueError(f"run {run_id} is not a finished training run; finished runs: {valid}")
    first = options.runs[0]
    note = f"Runs chosen by hand; the first, run {first}, is the baseline"
    return [by_id[i] for i in dict.fromkeys(options.runs)], note


def run_view(store: Store, run: Run) -> RunView:
    from debias_core.train.variants import data_variant  # the train package loads torch

    report = EvalReport.from_dict(run.metrics["test"])
    counts = [(counts_from_accuracy(r.accuracy, r.n), r.n) for r in report.per_group]
    return RunView(
        run_id=run.id,
        method=method_label(run.method, run.config.get("augment", "none")),
        data=data_variant(store, run).label(),
        seed=run.config.get("seed"),
        config=run.config,
        job_id=run.job_id,
        run_dir=_relative(store, run.dir),
        created_at=run.created_at,
        finished_at=run.finished_at,
        n_synthetic=len(run.synthetic_ids or []),
        best_val_wga=best_val_wga(run),
        report=report,
        intervals=report_intervals(report),
        balanced=balanced_interval(counts),
    )


def _relative(store: Store, path: str | None) -> str:
    if not path:
        return ""
    try:
        return str(Path(path).resolve().relative_to(store.root.resolve()))
    except ValueError:
        return path


def variant_key(run: Run) -> str:
    """A run's configuration without its seed: runs sharing it are seeds of one method."""
    return json.dumps({k: v for k, v in run.config.items() if k != "seed"}, sort_keys=True)


def seed_wgas(runs: list[Run], like: Run) -> dict[int, float]:
    """Test WGA by seed over the runs configured like `like` (the newest run of each seed)."""
    key = variant_key(like)
    out = {}
    for r in runs:
        if variant_key(r) == key and r.config.get("seed") is not None:
            out[int(r.config["seed"])] = r.metrics["test"]["worst_group_accuracy"]
    return out


def lift_view(all_runs: list[Run], run: RunView, base: RunView, by_id: dict) -> LiftView:
    mine, theirs = seed_wgas(all_runs, by_id[run.run_id]), seed_wgas(all_runs, by_id[base.run_id])
    seeds = sorted(set(mine) & set(theirs))
    if len(seeds) >= 2:
        lift = paired_lift([mine[s] for s in seeds], [theirs[s] for s in seeds])
        e = lift.estimate
        text = f"{lift.describe()} (paired over seeds {', '.join(map(str, seeds))})"
        return LiftView(
            run.run_id, base.run_id, "paired", e.value, e.low, e.high, lift.significant, None,
            seeds, text,
        )  # fmt: skip
    a, b = run.intervals.worst_group, base.intervals.worst_group
    overlap = a.low <= b.high and b.low <= a.high
    value = a.value - b.value
    verdict = (
        "the two worst-group intervals overlap: not a significant difference"
        if overlap
        else "the two worst-group intervals do not overlap"
    )
    text = (
        f"{100 * value:+.1f} points, per run (one seed of each configuration; seed-to-seed "
        f"variation is not measured): {verdict}"
    )
    return LiftView(
        run.run_id, base.run_id, "per-run", value, None, None, not overlap, overlap, [], text
    )


def results_section(store: Store, options: ReportOptions) -> ResultsSection:
    from debias_core.report.figures import group_interval_figure, summary_interval_figure

    chosen, note = chosen_runs(store, options)
    views = [run_view(store, r) for r in chosen]
    if not views:
        return ResultsSection([], None, [], note)
    all_runs = finished_runs(store)
    by_id = {r.id: r for r in all_runs}
    base = views[0]
    lifts = [lift_view(all_runs, v, base, by_id) for v in views[1:]]
    return ResultsSection(
        views,
        base.run_id,
        lifts,
        note,
        group_interval_figure(views),
        summary_interval_figure(views),
    )
