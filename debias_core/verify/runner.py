"""Run a verdict policy over generated samples as a persisted job.

`verify` job params: {policy, params (the policy's own), method, job, ids, chunk}. Per chunk of
samples: each scorer the policy needs scores it, the policy decides, and scores + masks +
decisions + the chunk's done mark are written in one transaction (a resumed job redoes at most
the chunk in flight). Every selected sample gets a verdict, including samples a person already
decided: the person's decision still counts, and the agreement report needs both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from debias_core.models.checkpoints import CheckpointMissing
from debias_core.params import build_params, check_limits, config_from
from debias_core.store import SampleFilter, Store
from debias_core.verify.base import POLICIES, SCORERS

if TYPE_CHECKING:  # a job body takes the context; it never imports the executor
    from debias_core.jobs.base import JobContext

CHUNK = 64


@dataclass(frozen=True)
class VerifyConfig:
    policy: str = "judge"
    params: dict[str, Any] = field(default_factory=dict)
    method: str | None = None  # only samples of this generation method
    job: int | None = None  # only samples of this generation job
    ids: tuple[int, ...] = ()  # or exactly these samples
    chunk: int = CHUNK


def policy_params(name: str, raw: dict | None):
    return build_params(POLICIES.get(name).default_params, raw, what=f"policy {name}")


def check_verify(store: Store, params: dict) -> VerifyConfig:
    """Validate before queuing: policy, its parameters, and what its scorers need."""
    config = config_from(VerifyConfig, params, "verify")
    if config.chunk < 1:
        raise ValueError("chunk must be >= 1")
    chosen = policy_params(config.policy, config.params)
    for use in POLICIES.get(config.policy).scorers(chosen):
        try:
            SCORERS.get(use.name).check(store, use.params)
        except CheckpointMissing:  # names the model, the folders searched and how to get it
            raise
        except ValueError as exc:  # the user chose the policy: name it, not only its scorer
            raise ValueError(f"policy {config.policy}: {exc}") from None
    if not store.count_samples(_where(config)):
        raise ValueError(nothing_to_verify(store, config))
    return config


def nothing_to_verify(store: Store, config: VerifyConfig) -> str:
    """Why the selection is empty: no images at all, or none of the chosen method / job."""
    methods = store.recipe_methods()
    if not methods:
        return "no generated samples to verify: run generate first"
    made = f"images exist from: {', '.join(methods)}"
    if config.ids:
        return f"none of the given ids is a generated sample; {made}"
    if config.job is not None:
        return f"generation job {config.job} has no images to verify; {made}"
    return f"no {config.method} images exist to verify; {made}"


def _where(config: VerifyConfig) -> SampleFilter:
    if config.ids:
        return SampleFilter(source="generated", ids=config.ids)
    return SampleFilter(source="generated", method=config.method, job_id=config.job)


def score_chunk(store: Store, policy: str, chosen, samples, device: str = "cpu") -> list:
    """Every score batch the policy needs, for one chunk of samples."""
    return [
        SCORERS.get(use.name).score(store, samples, use.params, device)
        for use in POLICIES.get(policy).scorers(chosen)
    ]


def verify_chunk(store: Store, policy: str, chosen, samples, device: str = "cpu"):
    """(score batches, verdicts) for one chunk of samples (a per-sample policy)."""
    batches = score_chunk(store, policy, chosen, samples, device)
    rule = POLICIES.get(policy)
    verdicts = {}
    for sample in samples:
        scores = {
            b.scorer: (
                {"value": b.values[sample.id], "details": b.details.get(sample.id, {})}
                if sample.id in b.values
                else None
            )
            for b in batches
        }
        verdicts[sample.id] = rule.decide(sample, scores, chosen)
    return batches, verdicts


def stored_scores(store: Store, policy: str, chosen, samples) -> dict[int, dict]:
    """{sample id: {scorer: {value, details, run_id} or None}}, newest score per scorer."""
    names = [use.name for use in POLICIES.get(policy).scorers(chosen)]
    ids = [s.id for s in samples]
    by_scorer = {name: store.latest_scores(ids, name) for name in names}
    return {sid: {name: by_scorer[name].get(sid) for name in names} for sid in ids}


def _ranking_job(ctx: JobContext, config: VerifyConfig, chosen, samples, chunks) -> None:
    """A ranking policy (`decide_all`, e.g. keep the top m per group) needs every score before
    it decides: score chunk by chunk (resumable units), then decide once."""
    ctx.set_units_total(len(chunks) + 1)
    for k, chunk in enumerate(chunks):
        key = f"score-{k}"
        if not ctx.unit_done(key):
            batches = score_chunk(ctx.store, config.policy, chosen, chunk, ctx.device)
            ctx.store.record_verification(batches, config.policy, {}, ctx.job_id, key)
        ctx.progress((k + 1) / (len(chunks) + 1), f"{config.policy}: scored {k + 1}/{len(chunks)}")
    if not ctx.unit_done("decide"):
        scores = stored_scores(ctx.store, config.policy, chosen, samples)
        verdicts = POLICIES.get(config.policy).decide_all(samples, scores, chosen)
        ctx.store.record_verification([], config.policy, verdicts, ctx.job_id, "decide")


def canonical_verify_params(store: Store, params: dict, limits=None) -> dict:
    """Validated params with every default filled in (equal work gives equal params), the
    policy's sizes within `limits` (a JobLimits)."""
    config = check_verify(store, params)
    if limits is not None:
        check_limits(policy_params(config.policy, config.params), limits)
    return asdict(config)


def run_verify_job(ctx: JobContext, params: dict) -> dict:
    """Job body (kind "verify", registered in jobs/kinds.py): score, then record verdicts."""
    config = check_verify(ctx.store, params)
    chosen = policy_params(config.policy, config.params)
    samples = ctx.store.list_samples(_where(config))
    chunks = [samples[i : i + config.chunk] for i in range(0, len(samples), config.chunk)]
    if hasattr(POLICIES.get(config.policy), "decide_all"):
        _ranking_job(ctx, config, chosen, samples, chunks)
    else:
        ctx.set_units_total(len(chunks))
        for k, chunk in enumerate(chunks):
            key = f"verify-{k}"
            if ctx.unit_done(key):
                continue
            batches, verdicts = verify_chunk(ctx.store, config.policy, chosen, chunk, ctx.device)
            ctx.store.record_verification(batches, config.policy, verdicts, ctx.job_id, key)
            ctx.progress((k + 1) / len(chunks), f"{config.policy}: {k + 1}/{len(chunks)} chunks")
    counts = policy_counts(ctx.store, config.policy, [s.id for s in samples])
    summary = ", ".join(f"{n} {d}" for d, n in counts.items())
    return {"message": f"policy {config.policy}: {summary}", "counts": counts}


def policy_counts(store: Store, policy: str, sample_ids) -> dict[str, int]:
    """The policy's latest verdicts over these samples, counted."""
    from debias_core.store.verify import policy_reviewer

    counts = {"accept": 0, "reject": 0, "needs-review": 0}
    reviewer = policy_reviewer(policy)
    for sid in sample_ids:
        rows = [r for r in store.decisions_for(sid) if r["reviewer"] == reviewer]
        if rows:
            counts[rows[-1]["decision"]] += 1
    return counts
