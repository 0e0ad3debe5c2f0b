"""A baseline and a method side by side: worst groups with intervals, and the lift between them.

Each side is one or more runs (one per training seed) evaluated on the same test split. With one
seed a side's worst group carries its bootstrap interval over test images and the lift is
`uncertainty.worst_group_lift` (the test sample's noise only); with two or more seeds, paired by
seed, a side's worst group is the mean with its t interval over seeds and the lift is
`uncertainty.paired_lift` (seed-to-seed noise included). The lift is called significant only
when its interval excludes 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from debias_core.evaluate.report import EvalReport
from debias_core.evaluate.uncertainty import (
    Estimate,
    Lift,
    counts_from_accuracy,
    paired_lift,
    report_intervals,
    seed_interval,
    worst_group_lift,
)


@dataclass(frozen=True)
class Side:
    """One side of the comparison: its runs (one per seed) and their worst groups."""

    label: str
    run_ids: tuple[int, ...]
    worst_group: Estimate  # one run: bootstrap over test images; several: mean ± t over seeds
    worst_groups: tuple[str, ...]  # each run's worst group, "class / colour (n=25)"
    average: Estimate

    def worst_text(self) -> str:
        return interval_text(self.worst_group)


@dataclass(frozen=True)
class ComparisonSummary:
    baseline: Side
    method: Side
    lift: Lift
    paired_by_seed: bool  # True: the lift is over seeds; False: one run each, test noise only

    def markdown(self) -> str:
        head = "| | runs | worst group [95%] | which group (n) | average [95%] |"
        rows = [
            f"| {s.label} | {', '.join(f'#{r}' for r in s.run_ids)} | {s.worst_text()} "
            f"| {'; '.join(s.worst_groups)} | {interval_text(s.average)} |"
            for s in (self.baseline, self.method)
        ]
        return "\n".join([head, "|---|---|---|---|---|", *rows, "", self.lift_sentence()])

    def lift_sentence(self) -> str:
        e = self.lift.estimate
        verdict = "significant" if self.lift.significant else "not significant"
        basis = (
            f"paired by seed over {e.n} seeds"
            if self.paired_by_seed
            else "one run each; the interval covers the test sample, not the training seed"
        )
        return (
            f"**Worst-group lift: {100 * e.value:+.1f} points [{100 * e.low:+.1f}, "
            f"{100 * e.high:+.1f}]**, {verdict} ({basis})."
        )


def interval_text(e: Estimate) -> str:
    if e.n is not None and e.n == 1 and e.low == float("-inf"):
        return f"{100 * e.value:.1f} [one seed]"
    return f"{100 * e.value:.1f} [{100 * e.low:.1f}, {100 * e.high:.1f}]"


def group_counts(report: EvalReport) -> list[tuple[int, int]]:
    """`(k, n)` per group, in the report's order."""
    return [(counts_from_accuracy(r.accuracy, r.n), r.n) for r in report.per_group]


def side(label: str, runs: Sequence[tuple[int, EvalReport]]) -> Side:
    if not runs:
        raise ValueError(f"{label}: no finished run to compare")
    reports = [r for _, r in runs]
    intervals = [report_intervals(r) for r in reports]
    if len(runs) == 1:
        worst, average = intervals[0].worst_group, intervals[0].average
    else:
        worst = seed_interval([r.worst_group_accuracy for r in reports])
        average = seed_interval([r.average_accuracy for r in reports])
    names = tuple(f"{r.worst_group().label} (n={r.worst_group().n})" for r in reports)
    return Side(label, tuple(i for i, _ in runs), worst, names, average)


def compare_sides(
    baseline_label: str,
    baseline: Sequence[tuple[int, EvalReport]],
    method_label: str,
    method: Sequence[tuple[int, EvalReport]],
) -> ComparisonSummary:
    """Both sides hold one `(run id, report)` per training seed, in the same seed order."""
    if len(baseline) != len(method):
        raise ValueError(f"paired by seed: {len(baseline)} baseline runs vs {len(method)}")
    left, right = side(baseline_label, baseline), side(method_label, method)
    if len(method) == 1:
        lift = worst_group_lift(group_counts(method[0][1]), group_counts(baseline[0][1]))
        return ComparisonSummary(left, right, lift, paired_by_seed=False)
    lift = paired_lift(
        [r.worst_group_accuracy for _, r in method], [r.worst_group_accuracy for _, r in baseline]
    )
    return ComparisonSummary(left, right, lift, paired_by_seed=True)
