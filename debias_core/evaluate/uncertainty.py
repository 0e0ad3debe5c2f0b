"""Uncertainty of the reported accuracies: intervals on every sliced metric.

Worst-group accuracy over ~25 test images a group is noisy (a group's standard error is 8-9
points at 80% accuracy), so every accuracy the project shows comes with an interval, as
TensorFlow's Fairness Indicators put one on every sliced metric:

- one group (or class): Wilson's score interval on its correct count `k` of `n`;
- worst-group accuracy: a percentile bootstrap that resamples test images within each group,
  which for 0/1 correctness is a binomial draw per group, so counts are all it needs;
- a metric over seeds: the mean with a Student-t interval;
- a lift over a baseline: the paired (by seed) differences' t interval, significant only when
  it excludes 0.

All functions are pure (numpy / scipy), take counts or plain sequences, and raise
`ValueError` on empty or inconsistent input instead of returning NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from debias_core.evaluate.report import EvalReport

CONFIDENCE = 0.95
BOOTSTRAP_DRAWS = 2000


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its interval `[low, high]` (same units as `value`)."""

    value: float
    low: float
    high: float
    n: int | None = None

    @property
    def half_width(self) -> float:
        return max(self.value - self.low, self.high - self.value)

    def with_value(self, value: float) -> Estimate:
        """The same interval around a point estimate computed on the full data (the interval
        is widened to hold it, as the percentile bootstrap may not)."""
        return Estimate(value, min(self.low, value), max(self.high, value), self.n)

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def as_percent(self, digits: int = 1) -> str:
        """`'62.0 [48.3, 74.2]'`: the value and its interval in percent."""
        v, lo, hi = (f"{100 * x:.{digits}f}" for x in (self.value, self.low, self.high))
        return f"{v} [{lo}, {hi}]"


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2))


def _check_count(k: int, n: int) -> None:
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if not 0 <= k <= n:
        raise ValueError(f"correct count k={k} must lie in [0, n={n}]")


def wilson_interval(k: int, n: int, confidence: float = CONFIDENCE) -> Estimate:
    """Accuracy `k / n` with Wilson's score interval (stays inside [0, 1], sane at k=0 or n)."""
    _check_count(k, n)
    z = _z(confidence)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # Clamp rounding only: the exact interval always holds p.
    return Estimate(p, max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)), n)


def counts_from_accuracy(accuracy: float, n: int) -> int:
    """The correct count behind a stored accuracy of `n` images (reports store k / n)."""
    k = round(accuracy * n)
    if abs(k - accuracy * n) > 1e-6 * max(1, n):
        raise ValueError(f"accuracy {accuracy} is not a count out of n={n}")
    return int(k)


def worst_group_interval(
    counts: Sequence[tuple[int, int]],
    confidence: float = CONFIDENCE,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = 0,
) -> Estimate:
    """Worst-group accuracy with a percentile bootstrap interval.

    `counts` holds one `(k, n)` per group (correct, total). Each draw resamples every group's
    test images with replacement, i.e. draws `Binomial(n, k / n)` correct ones, and takes the
    minimum accuracy over groups; the interval is the draws' central `confidence` share.

    A group at 0 of n never moves under resampling, so the bootstrap alone would report a
    worst-group accuracy of exactly 0 (the percentile bootstrap fails at the boundary). The
    true minimum is at most any one group's true accuracy, so the upper end is then raised to
    the smallest Wilson upper end of the groups at 0 (0 of 25: 13.3%).
    """
    k, n, low, high = _bootstrap(counts, np.min, confidence, draws, seed)
    value = float((k / n).min())
    if value == 0.0:
        high = max(high, min(wilson_interval(0, int(m), confidence).high for m in n[k == 0]))
    return Estimate(
        value, float(min(low, value)), float(max(high, value)), int(n[np.argmin(k / n)])
    )


def _bootstrap(
    counts: Sequence[tuple[int, int]], statistic, confidence: float, draws: int, seed: int
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """`(k, n, low, high)`: the central `confidence` share of `statistic` over group accuracies
    when each group's test images are resampled with replacement (`Binomial(n, k / n)` right)."""
    if not counts:
        raise ValueError("no groups to summarise")
    for k, n in counts:
        _check_count(k, n)
    if draws < 100:
        raise ValueError(f"draws must be at least 100, got {draws}")
    _z(confidence)
    k = np.array([c[0] for c in counts], dtype=np.int64)
    n = np.array([c[1] for c in counts], dtype=np.int64)
    rng = np.random.default_rng(seed)
    drawn = statistic(rng.binomial(n, k / n, size=(draws, len(n))) / n, axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(drawn, [tail, 1 - tail])
    return k, n, float(low), float(high)


def bootstrap_rows(
    statistics: Callable[[np.ndarray], dict[str, float]],
    n: int,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> dict[str, Estimate]:
    """Percentile intervals of named statistics when the `n` rows (test images) are resampled
    with replacement: `statistics(index)` returns the values on the rows `index`.

    For statistics that are not functions of per-group counts (average precision needs the
    scores); a draw where a statistic is undefined (NaN: e.g. no positive image of a class was
    drawn) is left out of that statistic's interval only. The value of each Estimate is the
    mean over draws; callers put the full-data value in with `Estimate.with_value`.
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if draws < 100:
        raise ValueError(f"draws must be at least 100, got {draws}")
    _z(confidence)
    rng = np.random.default_rng(seed)
    drawn: dict[str, list[float]] = {}
    for _ in range(draws):
        for name, value in statistics(rng.integers(0, n, n)).items():
            drawn.setdefault(name, []).append(value)
    tail = (1 - confidence) / 2
    out = {}
    for name, values in drawn.items():
        x = np.asarray(values, dtype=np.float64)
        x = x[~np.isnan(x)]
        if x.size:
            low, high = np.quantile(x, [tail, 1 - tail])
            out[name] = Estimate(float(x.mean()), float(low), float(high), n)
    return out


def class_counts(rows: Sequence[tuple[int, int, int]]) -> dict[int, tuple[int, int]]:
    """Pool `(y, k, n)` group rows into one `(k, n)` per class."""
    pooled: dict[int, tuple[int, int]] = {}
    for y, k, n in rows:
        pk, pn = pooled.get(y, (0, 0))
        pooled[y] = (pk + k, pn + n)
    return dict(sorted(pooled.items()))


def worst_class_interval(
    rows: Sequence[tuple[int, int, int]], confidence: float = CONFIDENCE, seed: int = 0
) -> Estimate:
    """Worst-class accuracy (groups of a class pooled) with the same bootstrap as groups.

    A colour-invariant model's worst group is in effect its worst class: showing both tells
    whether the shortfall is the bias or the class.
    """
    return worst_group_interval(list(class_counts(rows).values()), confidence, seed=seed)


def _t(confidence: float, dof: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + confidence / 2, dof))


def seed_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Estimate:
    """Mean over seeds with a Student-t interval; one seed gives an unbounded interval."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError("need a non-empty 1-D sequence of per-seed values")
    if not np.isfinite(x).all():
        raise ValueError("per-seed values must be finite")
    _z(confidence)
    mean = float(x.mean())
    if x.size == 1:
        return Estimate(mean, -math.inf, math.inf, 1)
    half = _t(confidence, x.size - 1) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return Estimate(mean, mean - half, mean + half, int(x.size))


@dataclass(frozen=True)
class Lift:
    """A method's gain over a baseline, paired by seed."""

    estimate: Estimate
    significant: bool

    def describe(self) -> str:
        sign = "significant" if self.significant else "not significant"
        e = self.estimate
        if e.n is not None and e.n < 2:  # no spread from one pair: say so, not [-inf, +inf]
            return f"{100 * e.value:+.1f} points (1 pair: no interval), {sign}"
        return f"{100 * e.value:+.1f} points [{100 * e.low:+.1f}, {100 * e.high:+.1f}], {sign}"


def paired_lift(
    method: Sequence[float], baseline: Sequence[float], confidence: float = CONFIDENCE
) -> Lift:
    """Mean of `method[i] - baseline[i]` over seeds with its t interval.

    Significant only when the interval excludes 0; with one seed it never is.
    """
    if len(method) != len(baseline):
        raise ValueError(f"paired by seed: {len(method)} values vs {len(baseline)}")
    diff = np.asarray(method, dtype=np.float64) - np.asarray(baseline, dtype=np.float64)
    estimate = seed_interval(diff, confidence)
    return Lift(estimate, estimate.excludes_zero())


def worst_group_lift(
    method: Sequence[tuple[int, int]],
    baseline: Sequence[tuple[int, int]],
    confidence: float = CONFIDENCE,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = 0,
) -> Lift:
    """One run of each, on the same test groups: the lift `WGA(method) - WGA(baseline)` with a
    percentile bootstrap that resamples each group's test images for both runs.

    `method` and `baseline` hold one `(k, n)` per group, in the same group order. Only counts are
    stored, so the two runs are resampled independently; runs that miss the same images are
    positively correlated, so ignoring it makes the interval wider, not narrower. A worst group
    at 0 of n cannot move under resampling (see `worst_group_interval`), so its Wilson upper end
    widens the lift's interval on that side. This interval covers the test sample only: two
    training seeds can differ by more, which `paired_lift` over seeds measures.
    """
    if len(method) != len(baseline):
        raise ValueError(f"the same groups: {len(method)} vs {len(baseline)}")
    if [n for _, n in method] != [n for _, n in baseline]:
        raise ValueError("the two runs were evaluated on different test groups")
    m_k, n, _, _ = _bootstrap(method, np.min, confidence, draws, seed)
    b_k, _, _, _ = _bootstrap(baseline, np.min, confidence, draws, seed)
    rng = np.random.default_rng(seed)
    m_draws = (rng.binomial(n, m_k / n, size=(draws, len(n))) / n).min(axis=1)
    b_draws = (rng.binomial(n, b_k / n, size=(draws, len(n))) / n).min(axis=1)
    tail = (1 - confidence) / 2
    low, high = (float(x) for x in np.quantile(m_draws - b_draws, [tail, 1 - tail]))
    m_iv = worst_group_interval(method, confidence, draws, seed)
    b_iv = worst_group_interval(baseline, confidence, draws, seed)
    value = m_iv.value - b_iv.value
    if b_iv.value == 0.0:  # the baseline's boundary: its true worst group may sit above 0
        low = min(low, m_iv.low - b_iv.high)
    if m_iv.value == 0.0:
        high = max(high, m_iv.high - b_iv.low)
    estimate = Estimate(value, min(low, value), max(high, value), 1)
    return Lift(estimate, estimate.excludes_zero())


@dataclass(frozen=True)
class ReportIntervals:
    """The intervals of one evaluation: each group (Wilson), worst group and class (bootstrap)."""

    per_group: dict[tuple[int, int], Estimate]
    worst_group: Estimate
    worst_class: Estimate
    average: Estimate


def report_intervals(report: EvalReport, confidence: float = CONFIDENCE) -> ReportIntervals:
    """Intervals for a stored `EvalReport` (its rows hold each group's n and accuracy)."""
    rows = [(r.y, counts_from_accuracy(r.accuracy, r.n), r.n) for r in report.per_group]
    if not rows:
        raise ValueError("the report has no groups")
    per_group = {
        (r.y, r.a): wilson_interval(k, n, confidence)
        for r, (_, k, n) in zip(report.per_group, rows, strict=True)
    }
    total_k, total_n = sum(k for _, k, _ in rows), sum(n for _, _, n in rows)
    return ReportIntervals(
        per_group=per_group,
        worst_group=worst_group_interval([(k, n) for _, k, n in rows], confidence),
        worst_class=worst_class_interval(rows, confidence),
        average=wilson_interval(total_k, total_n, confidence),
    )


def balanced_interval(
    counts: Sequence[tuple[int, int]],
    confidence: float = CONFIDENCE,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = 0,
) -> Estimate:
    """Balanced accuracy (the unweighted mean of group accuracies) with the same per-group
    binomial bootstrap as `worst_group_interval`."""
    k, n, low, high = _bootstrap(counts, np.mean, confidence, draws, seed)
    value = float((k / n).mean())
    return Estimate(value, float(min(low, value)), float(max(high, value)), int(n.sum()))


def estimate_dict(e: Estimate) -> dict:
    """JSON-safe `{"value", "low", "high", "n"}`."""
    return {"value": e.value, "low": e.low, "high": e.high, "n": e.n}


def intervals_dict(report: EvalReport, confidence: float = CONFIDENCE) -> dict:
    """`report_intervals` as plain JSON: worst group / class and average, then one entry per group
    (`y`, `a` and its Wilson interval), in the report's order."""
    iv = report_intervals(report, confidence)
    return {
        "confidence": confidence,
        "worst_group": estimate_dict(iv.worst_group),
        "worst_class": estimate_dict(iv.worst_class),
        "average": estimate_dict(iv.average),
        "per_group": [{"y": y, "a": a, **estimate_dict(e)} for (y, a), e in iv.per_group.items()],
    }
