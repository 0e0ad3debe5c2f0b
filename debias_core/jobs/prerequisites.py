"""Jobs a generation needs first (a personalization, masks): checked before the generation is
queued, then run or reused inside the generation job, so one command or one click does the
whole path and a rerun trains nothing twice.

Idempotent kinds reuse a finished equivalent job; the generation parameter the prerequisite
names then receives that job's id, so the generation's recipes name the artifacts it used.
"""

from __future__ import annotations

from dataclasses import asdict

from debias_core.jobs.base import JobCancelled, JobContext
from debias_core.jobs.submit import canonical_params, submit_job
from debias_core.limits import JobLimits
from debias_core.store import Store


def generate_config(params: dict):
    from debias_core.generate.base import GenerateConfig

    return GenerateConfig(**{k: v for k, v in params.items() if k != "dtype"})


def check_prerequisites(store: Store, params: dict, limits: JobLimits) -> None:
    """Each needed job's params are valid (ValueError naming the method otherwise)."""
    from debias_core.generate.base import prerequisites_of

    config = generate_config(params)
    for need in prerequisites_of(store, config):
        try:
            canonical_params(store, need.kind, need.params, limits)
        except ValueError as exc:
            raise ValueError(f"{config.method} needs a {need.kind} job first: {exc}") from None


def run_prerequisites(ctx: JobContext, params: dict) -> dict:
    """Run (or reuse) each needed job in this thread; the params with their ids filled in."""
    from debias_core.generate.base import prerequisites_of, with_param

    config = generate_config(params)
    for need in prerequisites_of(ctx.store, config):
        ctx.progress(0.0, f"{need.kind} for {config.method}: starting")
        job_id = run_needed_job(ctx, need.kind, need.params)
        config = with_param(config, need.param, job_id)
    return asdict(config) | {k: v for k, v in params.items() if k == "dtype"}


def run_needed_job(ctx: JobContext, kind: str, params: dict) -> int:
    """One prerequisite job to 'done'; a cancel of the generation cancels it too."""
    from debias_core.jobs.local import run_job

    submission = submit_job(ctx.store, kind, params)
    if not submission.runnable:
        return submission.job_id  # a finished equivalent job stands
    watch_cancel(ctx, submission.job_id)
    status = run_job(ctx.store, submission.job_id, ctx.device, units=ctx.units)
    if status == "cancelled":
        raise JobCancelled(f"job {ctx.job_id} was cancelled during its {kind} job")
    if status != "done":
        job = ctx.store.get_job(submission.job_id)
        raise RuntimeError(f"the {kind} job {job.id} it needs {status}: {job.error or job.message}")
    return submission.job_id


def watch_cancel(ctx: JobContext, needed_job: int) -> None:
    """Forward a cancel of the generation job to the job it is waiting for."""
    import threading
    import time

    def poll() -> None:
        while not ctx.store.get_job(needed_job).finished:
            if ctx.store.get_job(ctx.job_id).cancel_requested:
                ctx.store.request_cancel(needed_job)
                return
            time.sleep(0.25)

    threading.Thread(target=poll, daemon=True).start()
