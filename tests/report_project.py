"""A tiny project with what a fairness report reads: two 1-epoch ERM runs (real only, and real +
accepted generated), four generated samples decided by a person (with reasons) and a policy."""

from __future__ import annotations

from pathlib import Path

from conftest import TINY_DIGITS
from generated_samples import add_generated, train_ids

REASON_OK = "clean digit, right colour"
REASON_BAD = "wrong stroke colour"


def make_report_project(root: Path):
    """(store, baseline run id, second run id, generated ids)."""
    from debias_core.data.ingest import create_project
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    store = create_project(root, "colored-digits", options=dict(TINY_DIGITS))
    sources = train_ids(store, 0, 0)[:4]
    generated = add_generated(store, [(s, s, 0, 1) for s in sources])  # digit 0 in green
    store.decide_as_policy(generated, "accept", "always")
    store.decide(generated[:2], "accept", "ana", REASON_OK)
    store.decide(generated[2:3], "reject", "ana", REASON_BAD)
    base = run_training(store, TrainConfig(method="erm", epochs=1))
    other = run_training(store, TrainConfig(method="erm", epochs=1, synthetic="accepted", seed=1))
    return store, base.run_id, other.run_id, generated
