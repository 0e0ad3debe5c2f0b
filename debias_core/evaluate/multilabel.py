"""The evaluation report of a multi-label run (Singh et al. 2020's protocol, DecoupleGen Table 2).

Per class its AP; over the biased pairs (b, c) the exclusive mAP (b's AP where its positives are
images of b without c) and the co-occur mAP (positives: images of b with c), with every image
without b as a negative in both (`exclusive_cooccur_map`, negatives "all"); the unbiased mAP over
the classes that are no pair's b; the mAP over all classes; and each pair's bias score. Every
summary carries a percentile bootstrap interval over test images (resampled with replacement).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from debias_core.evaluate.metrics import average_precision, bias_score
from debias_core.evaluate.uncertainty import CONFIDENCE, Estimate, bootstrap_rows, estimate_dict

# AP is recomputed for every class in every draw: 200 draws keep a 2,000-image test split at a
# few seconds while the percentile ends move by well under a point between reruns.
MULTILABEL_DRAWS = 200
SUMMARIES = ("exclusive_map", "cooccur_map", "unbiased_map", "all_map")
SUMMARY_TITLES = {
    "exclusive_map": "exclusive mAP",
    "cooccur_map": "co-occur mAP",
    "unbiased_map": "unbiased mAP",
    "all_map": "all mAP",
}


@dataclass(frozen=True)
class PairRow:
    """One biased pair on the test split: b's AP on its exclusive and co-occur images, bias."""

    b: int
    c: int
    b_name: str
    c_name: str
    exclusive_ap: float | None
    cooccur_ap: float | None
    bias_score: float | None
    n_exclusive: int
    n_cooccur: int
    bias_interval: dict | None = None


@dataclass(frozen=True)
class MultiLabelReport:
    """Per-class AP (None for a class without a positive test image), the pairs and summaries.

    `intervals` maps each summary name to `{"value", "low", "high", "n"}` (n: test images).
    """

    label_names: list[str]
    per_class_ap: list[float | None]
    pairs: list[PairRow]
    exclusive_map: float | None
    cooccur_map: float | None
    unbiased_map: float | None
    all_map: float | None
    n_images: int
    intervals: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MultiLabelReport:
        return cls(**{**d, "pairs": [PairRow(**p) for p in d["pairs"]]})

    def summary(self, name: str) -> float | None:
        return getattr(self, name)

    def interval(self, name: str) -> Estimate | None:
        e = self.intervals.get(name)
        return None if e is None else Estimate(e["value"], e["low"], e["high"], e.get("n"))


def _class_aps(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """AP per class, NaN for a class without a positive."""
    out = np.full(scores.shape[1], np.nan)
    for k in range(scores.shape[1]):
        if targets[:, k].any():
            out[k] = average_precision(scores[:, k], targets[:, k])
    return out


def _pair_aps(scores, targets, b: int, c: int) -> tuple[float, float]:
    """(exclusive AP, co-occur AP) of b; NaN where that positive set is empty."""
    has_b, has_c = targets[:, b] > 0, targets[:, c] > 0
    out = []
    for with_c in (False, True):
        in_context = has_c == with_c
        keep = ~has_b | in_context
        if not (has_b & in_context).any():
            out.append(np.nan)
        else:
            out.append(average_precision(scores[keep, b], targets[keep, b]))
    return out[0], out[1]


def _pair_bias(scores, targets, b: int, c: int) -> float:
    try:
        return bias_score(scores, targets, b, c)
    except ValueError:  # no image of b with (or without) c, or b scored 0 throughout
        return np.nan


def _mean(values) -> float:
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else np.nan


def summaries(
    scores: np.ndarray, targets: np.ndarray, pairs: Sequence[tuple[int, int]]
) -> dict[str, float]:
    """The four mAPs and `bias_<k>` per pair on one (re)sampled test set; NaN when undefined."""
    aps = _class_aps(scores, targets)
    biased = {b for b, _ in pairs}
    pair_aps = [_pair_aps(scores, targets, b, c) for b, c in pairs]
    out = {
        "exclusive_map": _mean([e for e, _ in pair_aps]) if pairs else np.nan,
        "cooccur_map": _mean([c for _, c in pair_aps]) if pairs else np.nan,
        "unbiased_map": _mean([ap for k, ap in enumerate(aps) if k not in biased]),
        "all_map": _mean(aps),
    }
    for k, (b, c) in enumerate(pairs):
        out[f"bias_{k}"] = _pair_bias(scores, targets, b, c)
    return out


def _none(x: float) -> float | None:
    return None if x is None or np.isnan(x) else float(x)


def build_multilabel_report(
    scores: np.ndarray,
    targets: np.ndarray,
    label_names: Sequence[str],
    pairs: Sequence[tuple[int, int]],
    draws: int = MULTILABEL_DRAWS,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> MultiLabelReport:
    """Evaluate sigmoid `scores` (N, L) against 0/1 `targets` (N, L) for the biased `pairs`."""
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if scores.shape != targets.shape or scores.ndim != 2 or not len(scores):
        raise ValueError(f"scores {scores.shape} and targets {targets.shape} must be equal (N, L)")
    if scores.shape[1] != len(label_names):
        raise ValueError(f"{scores.shape[1]} score columns for {len(label_names)} label names")
    pairs = [(int(b), int(c)) for b, c in pairs]
    point = summaries(scores, targets, pairs)
    spread = bootstrap_rows(
        lambda idx: summaries(scores[idx], targets[idx], pairs), len(scores), draws, seed,
        confidence,
    )  # fmt: skip
    intervals = {
        name: estimate_dict(spread[name].with_value(point[name]))
        for name in spread
        if not np.isnan(point[name])
    }
    has_b = targets > 0
    rows = []
    for k, (b, c) in enumerate(pairs):
        excl, cooc = _pair_aps(scores, targets, b, c)
        with_c = has_b[:, b] & has_b[:, c]
        rows.append(
            PairRow(
                b,
                c,
                label_names[b],
                label_names[c],
                _none(excl),
                _none(cooc),
                _none(point[f"bias_{k}"]),
                int((has_b[:, b] & ~has_b[:, c]).sum()),
                int(with_c.sum()),
                intervals.get(f"bias_{k}"),
            )
        )
    return MultiLabelReport(
        label_names=list(label_names),
        per_class_ap=[_none(x) for x in _class_aps(scores, targets)],
        pairs=rows,
        exclusive_map=_none(point["exclusive_map"]),
        cooccur_map=_none(point["cooccur_map"]),
        unbiased_map=_none(point["unbiased_map"]),
        all_map=_none(point["all_map"]),
        n_images=len(scores),
        intervals={k: v for k, v in intervals.items() if k in SUMMARIES},
    )


# -- text ------------------------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _with_interval(report: MultiLabelReport, name: str) -> str:
    e = report.interval(name)
    return _pct(report.summary(name)) if e is None else e.as_percent()


def format_multilabel_report(
    report: MultiLabelReport, standard: MultiLabelReport | None = None, standard_label: str = ""
) -> str:
    """Summaries (with 95% bootstrap intervals), the pairs and per-class AP; with the standard
    classifier's value beside each when one is given."""
    beside = standard is not None
    head = f" | standard{(' ' + standard_label) if standard_label else ''}" if beside else ""
    lines = [f"metric (%, 95% bootstrap interval) | this run{head}"]
    for name in SUMMARIES:
        other = f" | {_pct(standard.summary(name))}" if beside else ""
        lines.append(f"{SUMMARY_TITLES[name]} | {_with_interval(report, name)}{other}")
    lines += ["", "pair (b, c) | exclusive AP | co-occur AP | bias score | n excl / co-occ"]
    by_pair = {(p.b, p.c): p for p in standard.pairs} if beside else {}
    for p in report.pairs:
        s = by_pair.get((p.b, p.c))
        bias = "-" if p.bias_score is None else f"{p.bias_score:.2f}"
        if p.bias_interval:
            bias += f" [{p.bias_interval['low']:.2f}, {p.bias_interval['high']:.2f}]"

        def pair(x, y, fmt=_pct):
            return fmt(x) + (f" ({fmt(y)})" if beside else "")

        lines.append(
            f"{p.b_name} / {p.c_name} | {pair(p.exclusive_ap, s and s.exclusive_ap)}"
            f" | {pair(p.cooccur_ap, s and s.cooccur_ap)} | {bias}"
            + (
                f" ({'-' if not s or s.bias_score is None else f'{s.bias_score:.2f}'})"
                if beside
                else ""
            )
            + f" | {p.n_exclusive} / {p.n_cooccur}"
        )
    lines += ["", "class | AP" + (" | standard AP" if beside else "")]
    for k, name in enumerate(report.label_names):
        other = f" | {_pct(standard.per_class_ap[k])}" if beside else ""
        lines.append(f"{name} | {_pct(report.per_class_ap[k])}{other}")
    return "\n".join(lines)
