"""Pure numpy metrics for group robustness and contextual (multi-label) bias.

Single-label metrics take integer arrays of equal length: `preds` (predicted class), `y` (true
class) and `a` (spurious attribute). A group is the pair `(y, a)`; only groups present in `y, a`
count. Multi-label metrics take `scores` (N, C) probabilities and `labels` (N, C) 0/1 targets,
COCO-Stuff style. Every function raises `ValueError` on shape mismatches, NaNs or empty sets
rather than returning a silent NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

AlignedAttr = np.ndarray | Sequence[int] | Mapping[int, int]


# ---------------------------------------------------------------------------------------------
# input checks


def _int_array(x: object, name: str) -> np.ndarray:
    """A 1-D non-negative integer array; floats are accepted only if they hold whole numbers."""
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if arr.dtype.kind == "f":
        if np.isnan(arr).any():
            raise ValueError(f"{name} contains NaN")
        if not np.array_equal(arr, np.round(arr)):
            raise ValueError(f"{name} must hold integer labels")
    elif arr.dtype.kind not in "iub":
        raise ValueError(f"{name} must be an integer array, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if (arr < 0).any():
        raise ValueError(f"{name} must be non-negative")
    return arr


def _check_labels(**arrays: object) -> list[np.ndarray]:
    """Convert each named array with `_int_array` and check they all have the same length."""
    out = [_int_array(v, k) for k, v in arrays.items()]
    lengths = {k: len(v) for k, v in zip(arrays, out, strict=True)}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"length mismatch: {lengths}")
    return out


def _float_array(x: object, name: str, ndim: int) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN")
    return arr


def _binary_array(x: object, name: str, ndim: int) -> np.ndarray:
    arr = _float_array(x, name, ndim)
    if not np.isin(arr, (0.0, 1.0)).all():
        raise ValueError(f"{name} must hold only 0/1 values")
    return arr.astype(bool)


def _check_multilabel(scores: object, labels: object) -> tuple[np.ndarray, np.ndarray]:
    s = _float_array(scores, "scores", 2)
    t = _binary_array(labels, "labels", 2)
    if s.shape != t.shape:
        raise ValueError(f"scores shape {s.shape} != labels shape {t.shape}")
    return s, t


def _check_class(c: int, n_classes: int, name: str) -> None:
    if not 0 <= c < n_classes:
        raise ValueError(f"{name}={c} is out of range for {n_classes} classes")


# ---------------------------------------------------------------------------------------------
# single-label group metrics


def group_ids(y: np.ndarray, a: np.ndarray, n_attrs: int) -> np.ndarray:
    """Flat group index `g = y * n_attrs + a` for each sample."""
    y, a = _check_labels(y=y, a=a)
    if n_attrs < 1 or a.max() >= n_attrs:
        raise ValueError(f"attribute values must lie in [0, {n_attrs}), max is {a.max()}")
    return y * n_attrs + a


def per_group_accuracy(
    preds: np.ndarray, y: np.ndarray, a: np.ndarray
) -> dict[tuple[int, int], float]:
    """Accuracy of each group `(y, a)` present in the data, keyed in sorted order."""
    preds, y, a = _check_labels(preds=preds, y=y, a=a)
    correct = preds == y
    groups = np.unique(np.stack([y, a], axis=1), axis=0)
    return {(int(gy), int(ga)): float(correct[(y == gy) & (a == ga)].mean()) for gy, ga in groups}


def worst_group_accuracy(preds: np.ndarray, y: np.ndarray, a: np.ndarray) -> float:
    """The lowest accuracy over the groups present."""
    return min(per_group_accuracy(preds, y, a).values())


def average_accuracy(preds: np.ndarray, y: np.ndarray) -> float:
    """Plain accuracy over all samples (every sample weighs the same)."""
    preds, y = _check_labels(preds=preds, y=y)
    return float((preds == y).mean())


def balanced_accuracy(preds: np.ndarray, y: np.ndarray, a: np.ndarray) -> float:
    """Unweighted mean of the group accuracies (every present group weighs the same)."""
    return float(np.mean(list(per_group_accuracy(preds, y, a).values())))


def average_worst_accuracy(preds: np.ndarray, y: np.ndarray, a: np.ndarray) -> float:
    """FFR's metric: per class, the worst group accuracy within it; then the mean over classes."""
    worst: dict[int, float] = {}
    for (gy, _), acc in per_group_accuracy(preds, y, a).items():
        worst[gy] = min(acc, worst.get(gy, acc))
    return float(np.mean(list(worst.values())))


def aligned_mask(y: np.ndarray, a: np.ndarray, aligned_attr: AlignedAttr) -> np.ndarray:
    """True where `a` equals the aligned (majority) attribute of the sample's class."""
    y, a = _check_labels(y=y, a=a)
    if isinstance(aligned_attr, Mapping):
        missing = sorted(set(np.unique(y).tolist()) - set(aligned_attr))
        if missing:
            raise ValueError(f"aligned_attr has no entry for classes {missing}")
        lookup = np.array([aligned_attr[int(c)] for c in y], dtype=np.int64)
    else:
        table = _int_array(aligned_attr, "aligned_attr")
        if y.max() >= len(table):
            raise ValueError(f"aligned_attr has {len(table)} entries, class {y.max()} present")
        lookup = table[y]
    return a == lookup


def aligned_conflicting_accuracy(
    preds: np.ndarray, y: np.ndarray, a: np.ndarray, aligned_attr: AlignedAttr
) -> tuple[float, float]:
    """Pooled accuracy on bias-aligned samples and on bias-conflicting samples.

    A sample is aligned when its `a` equals `aligned_attr[y]` (array indexed by class, or a
    class -> attribute mapping); every other sample is conflicting. Accuracies are pooled over
    samples, not averaged over groups. Raises if either set is empty.
    """
    preds, y, a = _check_labels(preds=preds, y=y, a=a)
    aligned = aligned_mask(y, a, aligned_attr)
    if aligned.all() or not aligned.any():
        kind = "conflicting" if aligned.all() else "aligned"
        raise ValueError(f"no {kind} samples: cannot compute {kind} accuracy")
    correct = preds == y
    return float(correct[aligned].mean()), float(correct[~aligned].mean())


# ---------------------------------------------------------------------------------------------
# multi-label (COCO-Stuff) metrics


def average_precision(scores_1d: np.ndarray, targets_1d: np.ndarray) -> float:
    """AP = sum_n (R_n - R_{n-1}) P_n over the distinct score thresholds, highest first.

    Same definition as `sklearn.metrics.average_precision_score` (no interpolation): samples
    with tied scores enter at one threshold together. Raises if there is no positive.
    """
    s = _float_array(scores_1d, "scores_1d", 1)
    t = _binary_array(targets_1d, "targets_1d", 1)
    if s.shape != t.shape:
        raise ValueError(f"scores_1d shape {s.shape} != targets_1d shape {t.shape}")
    if not t.any():
        raise ValueError("average precision is undefined without positive targets")
    order = np.argsort(-s, kind="mergesort")
    s, t = s[order], t[order]
    # The last index of each run of equal scores is where that threshold's counts are read.
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tp = np.cumsum(t)[last]
    precision = tp / (last + 1)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def per_class_ap(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """AP of each column, shape (C,); a column with no positive raises ValueError."""
    s, t = _check_multilabel(scores, labels)
    empty = np.flatnonzero(~t.any(axis=0))
    if empty.size:
        raise ValueError(f"classes {empty.tolist()} have no positive label: AP undefined")
    return np.array([average_precision(s[:, k], t[:, k]) for k in range(s.shape[1])])


def exclusive_cooccur_map(
    scores: np.ndarray,
    labels: np.ndarray,
    pairs: Sequence[tuple[int, int]],
    negatives: str = "all",
) -> tuple[float, float]:
    """(exclusive mAP, co-occur mAP) of biased classes b over their context classes c.

    Follows Singh et al. 2020 ("Don't judge an object by its context"), also used by the seed
    paper (section 4, supplementary 7.2). For each pair (b, c), the AP of class b is computed
    on two subsets and each mAP is the plain mean over pairs:

    - exclusive: positives are images with b and without c;
    - co-occur: positives are images with b and c.

    `negatives` says which images without b enter each subset:
    - "all" (default): every image without b, in both subsets; this is the protocol of the
      reproduction of Singh et al. (Kim et al. 2021, `evaluate.py`), i.e. only the positive set
      changes;
    - "context_matched": exclusive uses only images without c, co-occur only images with c
      (the subset is chosen by c alone, b present or absent).
    """
    if negatives not in ("all", "context_matched"):
        raise ValueError(f"negatives must be 'all' or 'context_matched', got {negatives!r}")
    if not pairs:
        raise ValueError("pairs is empty")
    s, t = _check_multilabel(scores, labels)
    excl, cooc = [], []
    for b, c in pairs:
        _check_class(b, t.shape[1], "b")
        _check_class(c, t.shape[1], "c")
        has_b, has_c = t[:, b], t[:, c]
        for out, with_c in ((excl, False), (cooc, True)):
            in_context = has_c == with_c
            keep = in_context if negatives == "context_matched" else ~has_b | in_context
            if not (has_b & in_context).any():
                kind = "co-occur" if with_c else "exclusive"
                raise ValueError(f"pair ({b}, {c}) has no {kind} positive image")
            out.append(average_precision(s[keep, b], t[keep, b]))
    return float(np.mean(excl)), float(np.mean(cooc))


def bias_score(scores: np.ndarray, labels: np.ndarray, b: int, c: int) -> float:
    """Singh et al.'s bias of b towards context c: mean p(b) over images with b and c divided
    by mean p(b) over images with b and without c. Higher means more reliant on c."""
    s, t = _check_multilabel(scores, labels)
    _check_class(b, t.shape[1], "b")
    _check_class(c, t.shape[1], "c")
    with_c = t[:, b] & t[:, c]
    without_c = t[:, b] & ~t[:, c]
    if not with_c.any() or not without_c.any():
        raise ValueError(f"bias_score({b}, {c}) needs images of b both with and without c")
    denom = s[without_c, b].mean()
    if denom == 0:
        raise ValueError(f"bias_score({b}, {c}): mean score of b without c is 0")
    return float(s[with_c, b].mean() / denom)
