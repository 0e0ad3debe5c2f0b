"""Metrics on hand-made arrays with values worked out by hand, and AP against sklearn."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from debias_core.evaluate import metrics as M

# 8 samples, 2 classes x 2 attributes; class 0 is aligned with attr 0, class 1 with attr 1.
#   groups: (0,0) 2/3 correct, (0,1) 0/1, (1,0) 1/2, (1,1) 2/2
Y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
A = np.array([0, 0, 0, 1, 1, 1, 0, 0])
P = np.array([0, 0, 1, 1, 1, 1, 1, 0])
ALIGNED = np.array([0, 1])


def test_group_ids():
    assert M.group_ids(Y, A, 2).tolist() == [0, 0, 0, 1, 3, 3, 2, 2]
    assert M.group_ids(Y, A, 3).tolist() == [0, 0, 0, 1, 4, 4, 3, 3]


def test_per_group_accuracy_exact():
    assert M.per_group_accuracy(P, Y, A) == {
        (0, 0): pytest.approx(2 / 3),
        (0, 1): 0.0,
        (1, 0): 0.5,
        (1, 1): 1.0,
    }
    assert list(M.per_group_accuracy(P, Y, A)) == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_summary_metrics_exact():
    assert M.worst_group_accuracy(P, Y, A) == 0.0
    assert M.average_accuracy(P, Y) == 5 / 8
    assert M.balanced_accuracy(P, Y, A) == pytest.approx(13 / 24)
    # class 0: min(2/3, 0) = 0; class 1: min(1/2, 1) = 1/2
    assert M.average_worst_accuracy(P, Y, A) == 0.25


def test_only_present_groups_count():
    # attribute 2 exists for class 1 only; groups (0,1) and (1,0) etc. absent
    y, a, p = np.array([0, 0, 1, 1]), np.array([0, 0, 2, 2]), np.array([0, 1, 1, 1])
    assert M.per_group_accuracy(p, y, a) == {(0, 0): 0.5, (1, 2): 1.0}
    assert M.balanced_accuracy(p, y, a) == 0.75
    assert M.average_worst_accuracy(p, y, a) == 0.75


def test_aligned_conflicting_accuracy():
    # aligned: samples 0,1,2,4,5 -> 4/5; conflicting: 3,6,7 -> 1/3
    ali, con = M.aligned_conflicting_accuracy(P, Y, A, ALIGNED)
    assert ali == 0.8 and con == pytest.approx(1 / 3)
    assert M.aligned_conflicting_accuracy(P, Y, A, {0: 0, 1: 1}) == (ali, con)
    assert M.aligned_conflicting_accuracy(P, Y, A, [1, 0]) == (pytest.approx(1 / 3), 0.8)


def test_float_labels_with_whole_numbers_are_accepted():
    assert M.average_accuracy(P.astype(float), Y.astype(np.float32)) == 5 / 8


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: M.average_accuracy(P, Y[:-1]), "length mismatch"),
        (lambda: M.worst_group_accuracy(np.r_[P[:-1], np.nan], Y, A), "NaN"),
        (lambda: M.average_accuracy(P + 0.5, Y), "integer"),
        (lambda: M.average_accuracy(P.reshape(2, 4), Y.reshape(2, 4)), "1-D"),
        (lambda: M.average_accuracy([], []), "empty"),
        (lambda: M.average_accuracy(P - 1, Y), "non-negative"),
        (lambda: M.group_ids(Y, A, 1), r"\[0, 1\)"),
        (lambda: M.aligned_conflicting_accuracy(P, Y, A, {0: 0}), "no entry for classes"),
        (lambda: M.aligned_conflicting_accuracy(P, Y, A, [0]), "1 entries"),
        (lambda: M.aligned_conflicting_accuracy(P[:3], Y[:3], A[:3], ALIGNED), "no conflict"),
        (lambda: M.aligned_conflicting_accuracy(P[3:4], Y[3:4], A[3:4], ALIGNED), "no aligned"),
    ],
)
def test_single_label_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------------------------------------
# average precision


def test_average_precision_by_hand():
    # thresholds 0.9: P=1, R=1/2; 0.8 (tie of a positive and a negative): P=2/3, R=1
    assert M.average_precision([0.9, 0.8, 0.8, 0.3], [1, 0, 1, 0]) == pytest.approx(5 / 6)
    assert M.average_precision([0.1, 0.2], [1, 0]) == 0.5
    assert M.average_precision([0.5, 0.5, 0.5], [1, 0, 0]) == pytest.approx(1 / 3)


@pytest.mark.parametrize("seed", range(5))
def test_average_precision_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 6, size=(200, 7)) / 5  # few distinct values: many ties
    labels = (rng.random((200, 7)) < 0.3).astype(int)
    labels[0] = 1  # every class has a positive
    expected = [average_precision_score(labels[:, k], scores[:, k]) for k in range(7)]
    np.testing.assert_allclose(M.per_class_ap(scores, labels), expected, rtol=0, atol=1e-12)
    cont = rng.random(200)
    assert M.average_precision(cont, labels[:, 0]) == pytest.approx(
        average_precision_score(labels[:, 0], cont), abs=1e-12
    )


# ---------------------------------------------------------------------------------------------
# exclusive / co-occur mAP and bias score: b = 0, c = 1, class 2 unused
#   row  b  c  score_b
#    0   1  1  0.9   co-occur positive
#    1   1  1  0.6   co-occur positive
#    2   1  0  0.4   exclusive positive
#    3   0  1  0.7   negative with c
#    4   0  0  0.5   negative without c
#    5   0  0  0.2   negative without c
LABELS = np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1], [0, 1, 0], [0, 0, 1], [0, 0, 0]])
SCORES = np.array(
    [
        [0.9, 0.8, 0.1],
        [0.6, 0.9, 0.2],
        [0.4, 0.3, 0.7],
        [0.7, 0.6, 0.1],
        [0.5, 0.2, 0.6],
        [0.2, 0.1, 0.3],
    ]
)


def test_exclusive_cooccur_map_all_negatives_by_hand():
    # exclusive on rows 2-5: 0.7-, 0.5-, 0.4+ -> AP 1/3
    # co-occur on rows 0,1,3,4,5: 0.9+ (P1 R1/2), 0.7-, 0.6+ (P2/3 R1) -> AP 5/6
    excl, cooc = M.exclusive_cooccur_map(SCORES, LABELS, [(0, 1)])
    assert excl == pytest.approx(1 / 3) and cooc == pytest.approx(5 / 6)


def test_exclusive_cooccur_map_context_matched_by_hand():
    # exclusive on rows 2,4,5 (no c): 0.5-, 0.4+ -> 1/2; co-occur on rows 0,1,3 (c) -> 5/6
    excl, cooc = M.exclusive_cooccur_map(SCORES, LABELS, [(0, 1)], negatives="context_matched")
    assert excl == pytest.approx(1 / 2) and cooc == pytest.approx(5 / 6)


def test_exclusive_cooccur_map_is_mean_over_pairs():
    one = M.exclusive_cooccur_map(SCORES, LABELS, [(0, 1)])
    two = M.exclusive_cooccur_map(SCORES, LABELS, [(1, 0)])
    both = M.exclusive_cooccur_map(SCORES, LABELS, [(0, 1), (1, 0)])
    assert both == pytest.approx(((one[0] + two[0]) / 2, (one[1] + two[1]) / 2))


@pytest.mark.parametrize("seed", range(3))
def test_exclusive_cooccur_map_matches_sklearn_on_subsets(seed):
    rng = np.random.default_rng(seed)
    labels = (rng.random((300, 5)) < 0.5).astype(int)
    scores = rng.integers(0, 8, size=(300, 5)) / 7
    pairs = [(0, 1), (2, 3), (4, 0)]
    excl, cooc = [], []
    for b, c in pairs:
        other = labels[:, b] == 0
        ex = (labels[:, b] == 1) & (labels[:, c] == 0)
        co = (labels[:, b] == 1) & (labels[:, c] == 1)
        excl.append(average_precision_score(labels[ex | other, b], scores[ex | other, b]))
        cooc.append(average_precision_score(labels[co | other, b], scores[co | other, b]))
    got = M.exclusive_cooccur_map(scores, labels, pairs)
    assert got == pytest.approx((np.mean(excl), np.mean(cooc)), abs=1e-12)


def test_bias_score_by_hand():
    # with c: rows 0,1 -> mean 0.75; without c: row 2 -> 0.4
    assert M.bias_score(SCORES, LABELS, 0, 1) == pytest.approx(0.75 / 0.4)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: M.average_precision([0.1, 0.2], [0, 0]), "without positive"),
        (lambda: M.average_precision([0.1, np.nan], [0, 1]), "NaN"),
        (lambda: M.average_precision([0.1, 0.2], [0, 1, 1]), "shape"),
        (lambda: M.average_precision([0.1, 0.2], [0, 2]), "0/1"),
        (lambda: M.per_class_ap(SCORES[:, :2], LABELS), "shape"),
        (lambda: M.per_class_ap(SCORES, LABELS * [1, 1, 0]), r"classes \[2\]"),
        (lambda: M.per_class_ap(SCORES[0], LABELS[0]), "2-D"),
        (lambda: M.exclusive_cooccur_map(SCORES, LABELS, []), "pairs is empty"),
        (lambda: M.exclusive_cooccur_map(SCORES, LABELS, [(0, 3)]), "out of range"),
        (lambda: M.exclusive_cooccur_map(SCORES, LABELS, [(1, 2)]), "no co-occur positive"),
        (lambda: M.exclusive_cooccur_map(SCORES, LABELS, [(0, 1)], "x"), "negatives"),
        (lambda: M.bias_score(SCORES, LABELS[:, [0, 0, 2]], 0, 1), "with and without"),
        (lambda: M.bias_score(SCORES * [0, 1, 1], LABELS, 0, 1), "is 0"),
    ],
)
def test_multilabel_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
