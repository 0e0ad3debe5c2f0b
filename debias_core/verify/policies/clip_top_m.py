"""`clip-top-m`: Clustered DreamBooth's CLIP filter (seed 002, Eq. 1 and Section A.2).

CLIP-Score = alpha * CLIP-Label + (1 - alpha) * CLIP-Centroid. Within each group (the sample's
recorded class and context) the samples are ranked by it: the top m are accepted, the rest
rejected. m = 0 keeps the top `keep` share instead (the paper keeps 75%). A group without a
centroid (fewer real train images than `min_samples`, the paper's minority groups at bias 0.999)
is ranked by CLIP-Label alone (alpha = 1, Section A.5). A ranking policy: the verify job scores
every sample first and decides once (`decide_all`), so run it on one generation's samples
(`verify DIR --policy clip-top-m --method clustered-dreambooth` or `--job ID`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from debias_core.params import bounded
from debias_core.store.verify import PolicyVerdict
from debias_core.verify.base import POLICIES, ScorerUse
from debias_core.verify.scorers.clip_centroid import ClipCentroidParams
from debias_core.verify.scorers.clip_label import CLIP_HELP, ClipLabelParams


@dataclass(frozen=True)
class ClipTopMParams:
    alpha: float = bounded(0.5, 0.0, 1.0, help="weight of CLIP-Label in Eq. 1")
    m: int = bounded(0, limit="per_group", help="images accepted per group (0: the top `keep`)")
    keep: float = bounded(0.75, 0.0, 1.0, help="share accepted per group when m = 0")
    clip: str = field(default="embedded", metadata={"help": CLIP_HELP})
    prompt: str = field(default="a photo of {cls}", metadata={"help": "CLIP-Label's text"})
    min_samples: int = field(
        default=5, metadata={"help": "least real train images a group needs for a centroid"}
    )

    def check_inputs(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError("alpha must be in [0, 1]")
        if self.m < 0:
            raise ValueError("m must be >= 0 (0: keep the top `keep` share of each group)")
        if not 0.0 < self.keep <= 1.0:
            raise ValueError("keep must be in (0, 1]")
        ClipLabelParams(self.clip, self.prompt).check_inputs()
        ClipCentroidParams(self.clip, self.min_samples).check_inputs()


def clip_score(label: float, centroid: float | None, alpha: float) -> float:
    """Eq. 1; without a centroid, CLIP-Label alone (alpha = 1)."""
    if centroid is None:
        return label
    return alpha * label + (1.0 - alpha) * centroid


def kept(n: int, params: ClipTopMParams) -> int:
    return min(n, params.m) if params.m else math.ceil(params.keep * n)


def _value(scores: dict, name: str) -> float | None:
    entry = scores.get(name)
    return None if entry is None else float(entry["value"])


@POLICIES.register("clip-top-m")
class ClipTopM:
    default_params = ClipTopMParams()

    @staticmethod
    def scorers(params: ClipTopMParams) -> list[ScorerUse]:
        return [
            ScorerUse("clip-label", ClipLabelParams(params.clip, params.prompt)),
            ScorerUse("clip-centroid", ClipCentroidParams(params.clip, params.min_samples)),
        ]

    @staticmethod
    def decide_all(samples, scores_by_sample, params: ClipTopMParams) -> dict[int, PolicyVerdict]:
        verdicts: dict[int, PolicyVerdict] = {}
        groups: dict[tuple[int, int], list] = defaultdict(list)
        for sample in samples:
            scores = scores_by_sample.get(sample.id, {})
            label = _value(scores, "clip-label")
            if label is None:
                verdicts[sample.id] = PolicyVerdict("needs-review", "not scored by clip-label")
                continue
            centroid = _value(scores, "clip-centroid")
            score = clip_score(label, centroid, params.alpha)
            groups[(sample.y, sample.a)].append((score, sample.id, label, centroid))
        for group, rows in groups.items():
            rows.sort(key=lambda r: (-r[0], r[1]))  # best first; ties: the older sample
            top = kept(len(rows), params)
            for rank, (score, sid, label, centroid) in enumerate(rows, start=1):
                parts = f"label {label:.3f}" + (
                    f", centroid {centroid:.3f}, alpha {params.alpha:g}"
                    if centroid is not None
                    else ", no centroid: alpha 1"
                )
                reason = (
                    f"CLIP-Score {score:.3f} ({parts}): rank {rank} of {len(rows)} "
                    f"in group {group}, top {top} kept"
                )
                verdicts[sid] = PolicyVerdict("accept" if rank <= top else "reject", reason)
        return verdicts
