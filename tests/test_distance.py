"""Fréchet distance: a case with a closed-form answer, and bad shapes."""

from __future__ import annotations

import numpy as np
import pytest

from debias_core.analysis.distance import frechet_distance


def test_matches_closed_form_for_diagonal_gaussians():
    # Samples whose sample mean and (unbiased) covariance are exactly known.
    base = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])  # mean 0, cov 4/3 I
    a = base * [1.0, 2.0]  # cov diag(4/3, 16/3)
    b = base * [3.0, 1.0] + [2.0, 0.0]  # mean (2, 0), cov diag(12, 4/3)
    s_a, s_b = np.array([4 / 3, 16 / 3]), np.array([12.0, 4 / 3])
    expected = 4.0 + np.sum(s_a + s_b - 2 * np.sqrt(s_a * s_b))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_identical_sets_are_at_distance_zero():
    x = np.random.default_rng(0).normal(size=(50, 3))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize(
    "a, b", [(np.zeros((5, 2)), np.zeros((5, 3))), (np.zeros((1, 2)), np.zeros((4, 2)))]
)
def test_bad_shapes_are_refused(a, b):
    with pytest.raises(ValueError):
        frechet_distance(a, b)
