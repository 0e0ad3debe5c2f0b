"""How often a policy agrees with people: confusion matrix and Cohen's kappa per policy.

Only samples that both a person (current status accepted / rejected, after undos) and the policy
decided count. The confusion matrix has the person's decision in rows (accept, reject) and the
policy's in columns (accept, reject, needs-review). Kappa (sklearn's `cohen_kappa_score`) is over
the samples where the policy made a firm call; needs-review ones are counted separately, since a
policy that defers is not disagreeing. Kappa is None when it is undefined (one label only).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from debias_core.store import Store

PERSON = ("accept", "reject")
POLICY = ("accept", "reject", "needs-review")
_OF_STATUS = {"accepted": "accept", "rejected": "reject"}


@dataclass(frozen=True)
class Agreement:
    policy: str
    n: int  # samples both decided
    confusion: list[list[int]]  # rows PERSON, columns POLICY
    n_firm: int  # ... of which the policy accepted or rejected
    observed: float | None  # share of firm calls equal to the person's
    kappa: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def kappa(person: list[str], policy: list[str]) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    if not person:
        return None
    import warnings

    with warnings.catch_warnings():  # sklearn warns and returns nan when kappa is undefined
        warnings.simplefilter("ignore")
        value = float(cohen_kappa_score(person, policy, labels=list(PERSON)))
    return None if math.isnan(value) else value


def policy_agreement(store: Store, policy: str) -> Agreement:
    pairs = [(_OF_STATUS[p], v) for p, v in store.agreement_pairs(policy)]
    confusion = [[sum(1 for p, v in pairs if p == r and v == c) for c in POLICY] for r in PERSON]
    firm = [(p, v) for p, v in pairs if v in PERSON]
    observed = sum(p == v for p, v in firm) / len(firm) if firm else None
    return Agreement(
        policy,
        len(pairs),
        confusion,
        len(firm),
        observed,
        kappa([p for p, _ in firm], [v for _, v in firm]),
    )


def agreement_report(store: Store) -> list[Agreement]:
    """One Agreement per policy that has decided anything in the project."""
    return [policy_agreement(store, name) for name in store.policy_names()]


def format_agreement(reports: list[Agreement]) -> str:
    if not reports:
        return "no policy has decided anything yet: run `python -m debias_core verify DIR` first"
    lines = []
    for r in reports:
        k = "undefined" if r.kappa is None else f"{r.kappa:.3f}"
        seen = "-" if r.observed is None else f"{r.observed:.1%}"
        lines.append(
            f"policy {r.policy}: {r.n} samples decided by both a person and the policy; "
            f"kappa {k} over {r.n_firm} firm calls (agreement {seen})"
        )
        head = "person \\ policy"
        lines.append(f"  {head:>16} " + " ".join(f"{c:>12}" for c in POLICY))
        for name, row in zip(PERSON, r.confusion, strict=True):
            lines.append(f"  {name:>16} " + " ".join(f"{v:>12}" for v in row))
    return "\n".join(lines)
