"""How close is generated to real? Fréchet distances in a feature space, with a real-vs-real floor.

Every row compares one generated set (all of it, one group, one generation job, one method) with
the real samples of the reference split (default: test) *in the same groups*; its floor is the
distance from the real train samples of those groups to the same reference. A generated set at
or below its floor is as close to the reference as real training data is.

Fréchet distances grow as samples shrink (the covariance of a few points is noisy), so by default
the floor is computed from as many real samples as the row has generated ones (`matched_floor`);
a set with fewer than `min_samples` is left blank, with a note.
On a biased train split the overall floor also measures the group-mix shift between train and a
balanced test split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from debias_core.analysis.distance import frechet_distance
from debias_core.analysis.embeddings import EmbedConfig, embed_missing
from debias_core.analysis.features import get_extractor
from debias_core.data.base import SPLITS
from debias_core.store import Store

STATUSES = ("all", "accepted", "pending", "rejected")


@dataclass(frozen=True)
class DistanceConfig:
    features: str = "clip"
    status: str = "all"  # which generated samples: all, or one curation status
    reference_split: str = "test"
    floor_split: str = "train"
    min_samples: int = 2
    matched_floor: bool = True  # the floor from as many real samples as the generated set has
    seed: int = 0  # which real samples a matched floor draws

    def check_inputs(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        for name in ("reference_split", "floor_split"):
            split = getattr(self, name)
            if split not in SPLITS:
                raise ValueError(f"{name} must be one of {list(SPLITS)}, got {split!r}")
        if self.reference_split == self.floor_split:
            raise ValueError("the reference and floor splits must differ")
        if not isinstance(self.min_samples, int) or self.min_samples < 2:
            raise ValueError(f"min_samples must be an integer >= 2, got {self.min_samples!r}")


@dataclass(frozen=True)
class DistanceRow:
    scope: str  # 'overall' | 'group' | 'job' | 'method'
    key: str
    n_generated: int
    n_reference: int
    distance: float | None
    n_floor: int  # real samples of the floor split in the same groups
    floor: float | None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """distance / floor: <= 1 means as close to the reference as real training data."""
        if self.distance is None or not self.floor:
            return None
        return self.distance / self.floor


@dataclass
class DistanceReport:
    features: str
    model_hash: str
    config: dict
    rows: list[DistanceRow] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "features": self.features,
            "model_hash": self.model_hash,
            "config": self.config,
            "rows": [asdict(r) | {"ratio": r.ratio} for r in self.rows],
        }


@dataclass(frozen=True)
class _Sets:
    """Sample ids with their features: generated (with group, job, method) and real by split."""

    features: dict[int, np.ndarray]
    generated: list[dict]
    real: list[dict]


def _query_sets(store: Store, config: DistanceConfig) -> tuple[list[dict], list[dict]]:
    """The generated samples (with group, job, method, status) and the real ones compared."""
    generated = store.query(
        "select s.id, s.y, s.a, s.job_id, r.method, coalesce(c.status, 'pending') as status"
        " from samples s left join recipes r on r.id = s.recipe_id"
        " left join curation c on c.sample_id = s.id where s.source = 'generated' order by s.id"
    )
    if config.status != "all":
        generated = [g for g in generated if g["status"] == config.status]
    real = store.query(
        "select id, y, a, split from samples where source = 'real' and split in (?, ?) order by id",
        [config.reference_split, config.floor_split],
    )
    return generated, real


def _load(store: Store, config: DistanceConfig, device: str, progress) -> tuple[_Sets, str, str]:
    generated, real = _query_sets(store, config)
    ids = [g["id"] for g in generated] + [r["id"] for r in real]
    result = embed_missing(store, EmbedConfig(config.features), device, progress, sample_ids=ids)
    vectors = store.get_embeddings(result.features, result.model_hash, ids)
    features = dict(zip(ids, vectors, strict=True))
    return _Sets(features, generated, real), result.features, result.model_hash


def _distance(sets: _Sets, a: list[int], b: list[int], min_samples: int) -> float | None:
    if len(a) < min_samples or len(b) < min_samples:
        return None
    return frechet_distance(
        np.stack([sets.features[i] for i in a]), np.stack([sets.features[i] for i in b])
    )


def _row(sets: _Sets, config: DistanceConfig, scope: str, key: str, chosen: list[dict]):
    groups = {(g["y"], g["a"]) for g in chosen}
    in_groups = [r for r in sets.real if (r["y"], r["a"]) in groups]
    reference = [r["id"] for r in in_groups if r["split"] == config.reference_split]
    floor_set = [r["id"] for r in in_groups if r["split"] == config.floor_split]
    generated = [g["id"] for g in chosen]
    if config.matched_floor and len(floor_set) > len(generated):
        # Fréchet distances shrink as sets grow: compare like with like.
        rng = np.random.default_rng(config.seed)
        floor_set = sorted(rng.choice(floor_set, len(generated), replace=False).tolist())
    distance = _distance(sets, generated, reference, config.min_samples)
    floor = _distance(sets, floor_set, reference, config.min_samples)
    note = ""
    if distance is None or floor is None:
        note = f"fewer than {config.min_samples} samples on a side"
    return DistanceRow(
        scope, key, len(generated), len(reference), distance, len(floor_set), floor, note
    )


def distance_report(
    store: Store,
    config: DistanceConfig | None = None,
    device: str = "cpu",
    progress: Callable[[float, str], None] | None = None,
) -> DistanceReport:
    """Overall, per group, per generation job and per method (missing vectors embedded first)."""
    config = config or DistanceConfig()
    config.check_inputs()
    get_extractor(store, config.features)  # a bad spec fails before anything is computed
    sets, features, model_hash = _load(store, config, device, progress or (lambda f, m: None))
    return _fill(DistanceReport(features, model_hash, asdict(config)), store, sets, config)


def cached_distance_report(
    store: Store, features: str, model_hash: str, config: DistanceConfig | None = None
) -> DistanceReport:
    """The same report from vectors already cached in one feature space: no model is loaded and
    nothing is embedded (KeyError naming the first sample without a vector)."""
    config = replace(config or DistanceConfig(), features=features)
    config.check_inputs()
    generated, real = _query_sets(store, config)
    ids = [g["id"] for g in generated] + [r["id"] for r in real]
    vectors = store.get_embeddings(features, model_hash, ids) if ids else []
    sets = _Sets(dict(zip(ids, vectors, strict=True)), generated, real)
    return _fill(DistanceReport(features, model_hash, asdict(config)), store, sets, config)


def _fill(report: DistanceReport, store: Store, sets: _Sets, config: DistanceConfig):
    """Rows overall, then per group, per generation job and per method."""
    if not sets.generated:
        return report
    report.rows.append(_row(sets, config, "overall", "all generated", sets.generated))
    classes, attrs = store.class_names, store.attr_names
    for scope, key_of in (
        ("group", lambda g: (g["y"], g["a"])),
        ("job", lambda g: g["job_id"]),
        ("method", lambda g: g["method"] or "unknown"),
    ):
        buckets: dict = {}
        for g in sets.generated:
            buckets.setdefault(key_of(g), []).append(g)
        for key in sorted(buckets, key=lambda k: (k is None, str(k) if scope != "group" else k)):
            label = _label(scope, key, classes, attrs)
            report.rows.append(_row(sets, config, scope, label, buckets[key]))
    return report


def _label(scope: str, key, classes: list[str], attrs: list[str]) -> str:
    if scope == "group":
        y, a = key
        name_y = classes[y] if y < len(classes) else str(y)
        name_a = attrs[a] if a < len(attrs) else str(a)
        return f"{name_y} / {name_a}"
    if scope == "job":
        return "no job" if key is None else f"job {key}"
    return str(key)


def format_distance_table(report: DistanceReport) -> str:
    """A fixed-width table: one line per row, the floor and the distance / floor ratio."""
    head = (
        f"Fréchet distance in {report.features} space (weights {report.model_hash[:12]}), "
        f"generated ({report.config['status']}) vs real {report.config['reference_split']}; "
        f"floor = real {report.config['floor_split']} vs real {report.config['reference_split']}"
    )
    if not report.rows:
        return head + "\n(no generated samples to compare)"
    lines = [
        head,
        f"{'scope':8} {'set':28} {'n gen':>6} {'n ref':>6} {'distance':>9} "
        f"{'n floor':>7} {'floor':>9} {'ratio':>6}",
    ]
    for r in report.rows:
        lines.append(
            f"{r.scope:8} {r.key[:28]:28} {r.n_generated:6d} {r.n_reference:6d} "
            f"{_num(r.distance):>9} {r.n_floor:7d} {_num(r.floor):>9} {_num(r.ratio, 2):>6}"
            + (f"  ({r.note})" if r.note else "")
        )
    return "\n".join(lines)


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
