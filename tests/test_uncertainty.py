"""Intervals on every shown accuracy: hand-computed values, and the bootstrap's behaviour."""

from __future__ import annotations

import math

import pytest

from debias_core.evaluate.uncertainty import (
    class_counts,
    counts_from_accuracy,
    paired_lift,
    seed_interval,
    wilson_interval,
    worst_class_interval,
    worst_group_interval,
)


def test_wilson_interval_matches_the_hand_computed_value():
    # 20 of 25 right, z = 1.959964: centre 0.760042, half-width 0.151352 (worked by hand).
    e = wilson_interval(20, 25)
    assert e.value == 0.8 and e.n == 25
    assert e.low == pytest.approx(0.608690, abs=1e-5)
    assert e.high == pytest.approx(0.911394, abs=1e-5)


def test_wilson_interval_at_zero_and_all_right_stays_inside_0_1():
    zero = wilson_interval(0, 10)
    assert zero.low == 0.0 and zero.high == pytest.approx(0.277533, abs=1e-5)
    full = wilson_interval(10, 10)
    assert full.high == 1.0 and full.low == pytest.approx(1 - 0.277533, abs=1e-5)


@pytest.mark.parametrize("k,n", [(-1, 5), (6, 5), (0, 0)])
def test_bad_counts_are_refused(k, n):
    with pytest.raises(ValueError):
        wilson_interval(k, n)


def test_counts_from_accuracy_recovers_k_and_refuses_non_counts():
    assert counts_from_accuracy(0.8, 25) == 20
    with pytest.raises(ValueError):
        counts_from_accuracy(0.81, 25)


def test_worst_group_interval_is_a_point_when_every_group_is_perfect():
    e = worst_group_interval([(25, 25), (30, 30)])
    assert (e.value, e.low, e.high) == (1.0, 1.0, 1.0)


def test_a_worst_group_at_zero_gets_its_wilson_upper_end_not_a_point():
    # 0 of 25: Wilson centre = half-width = (z^2/50) / (1 + z^2/25) = 0.066596 by hand
    e = worst_group_interval([(0, 25), (20, 25), (0, 10)])
    assert (e.value, e.low, e.n) == (0.0, 0.0, 25)
    assert e.high == pytest.approx(2 * 0.066596, abs=1e-5)  # the larger group's, the tighter


def test_worst_group_interval_widens_with_fewer_images():
    small = worst_group_interval([(20, 25), (1000, 1000)])
    large = worst_group_interval([(800, 1000), (1000, 1000)])
    assert small.value == large.value == 0.8
    assert small.low < 0.7 < 0.9 < small.high
    assert large.high - large.low < (small.high - small.low) / 3
    assert small.n == 25


def test_worst_group_bootstrap_is_below_the_minimum_of_equal_groups():
    # Ten equally good groups: the minimum of ten noisy ones sits below 0.8 more often than not,
    # so the interval's centre lies under the point value (the bias a plain min hides).
    e = worst_group_interval([(20, 25)] * 10)
    assert e.low < 0.6 and e.high <= 0.8 + 1e-9


def test_worst_class_pools_the_groups_of_a_class():
    rows = [(0, 10, 10), (0, 5, 10), (1, 9, 10), (1, 9, 10)]
    assert class_counts(rows) == {0: (15, 20), 1: (18, 20)}
    e = worst_class_interval(rows)
    assert e.value == 0.75 and e.n == 20


def test_seed_interval_is_the_student_t_interval():
    e = seed_interval([0.1, 0.2, 0.3])
    half = 4.302653 * 0.1 / math.sqrt(3)
    assert e.value == pytest.approx(0.2)
    assert e.low == pytest.approx(0.2 - half, abs=1e-5)
    assert e.high == pytest.approx(0.2 + half, abs=1e-5)
    assert math.isinf(seed_interval([0.5]).high)


def test_paired_lift_is_significant_only_when_its_interval_excludes_zero():
    lift = paired_lift([0.5, 0.6, 0.7], [0.1, 0.2, 0.25])
    assert lift.significant and lift.estimate.value == pytest.approx(0.416667, abs=1e-5)
    noisy = paired_lift([0.5, 0.1, 0.3], [0.1, 0.4, 0.2])
    assert not noisy.significant
    single = paired_lift([0.9], [0.1])
    assert not single.significant
    assert "1 pair: no interval" in single.describe() and "inf" not in single.describe()
    with pytest.raises(ValueError):
        paired_lift([0.1, 0.2], [0.1])


def test_report_intervals_read_counts_from_a_stored_report():
    import numpy as np

    from debias_core.evaluate.report import build_report
    from debias_core.evaluate.uncertainty import report_intervals

    y = np.array([0] * 25 + [1] * 25)
    a = np.array([0] * 20 + [1] * 5 + [1] * 25)
    preds = y.copy()
    preds[20:23] = 1  # 2 of the 5 (0, 1) images right
    iv = report_intervals(build_report(preds, y, a, ["0", "1"], ["a", "b"], {0: 0, 1: 1}))
    assert iv.per_group[(0, 1)].value == pytest.approx(0.4) and iv.per_group[(0, 1)].n == 5
    assert iv.worst_group.value == pytest.approx(0.4) and iv.worst_group.n == 5
    assert iv.worst_class.value == pytest.approx(22 / 25)
    assert iv.average.value == pytest.approx(47 / 50)
