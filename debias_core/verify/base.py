"""The verification seam: scorers write scores, policies turn scores into verdicts.

- A scorer (one file each under `scorers/`) measures one thing about generated samples and
  returns a `ScoreBatch` for the scores table; samples it cannot score (no source image, no mask)
  are left out, and the policy sees None for them.
- A policy (one file each under `policies/`) names the scorers it needs, with their parameters
  built from its own, and decides accept / reject / needs-review per sample. Its decisions are
  recorded as reviewer 'policy:<name>'; a person's decision always outranks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from debias_core.registry import Registry
from debias_core.store import Sample, Store
from debias_core.store.verify import PolicyVerdict, ScoreBatch

__all__ = ["POLICIES", "SCORERS", "Policy", "PolicyVerdict", "ScoreBatch", "Scorer", "ScorerUse"]


class Scorer(Protocol):
    default_params: Any

    def check(self, store: Store, params) -> None:
        """Raise a ValueError (or CheckpointMissing) naming what is missing, before any job."""
        ...

    def score(
        self, store: Store, samples: Sequence[Sample], params, device: str = "cpu"
    ) -> ScoreBatch: ...


@dataclass(frozen=True)
class ScorerUse:
    """A scorer a policy needs, with the parameters the policy built for it."""

    name: str
    params: Any


class Policy(Protocol):
    """Decides each sample from its own scores.

    A ranking policy (e.g. Clustered DreamBooth's top m per group) instead defines
    `decide_all(samples, scores_by_sample, params) -> {sample id: PolicyVerdict}`; the verify
    job then scores every chunk first and decides once (`verify/runner.py`).
    """

    default_params: Any

    def scorers(self, params) -> list[ScorerUse]: ...

    def decide(self, sample: Sample, scores: dict[str, dict | None], params) -> PolicyVerdict:
        """`scores[name]` is {value, details, run_id} or None when the scorer skipped it."""
        ...


SCORERS: Registry[Scorer] = Registry("scorer")
POLICIES: Registry[Policy] = Registry("verdict policy")


def missing(names: Sequence[str], scores: dict[str, dict | None]) -> list[str]:
    return [n for n in names if scores.get(n) is None]
