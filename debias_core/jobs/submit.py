"""Submitting a job without duplicating one: validate, bound its size, reuse an equivalent job.

"Equivalent" means the same kind and the same canonical params (for any job kind). Submitting
work that an equivalent job already holds never starts a second copy:

- equivalent job interrupted / failed / cancelled -> that job is resumed (finished units skipped);
- equivalent job queued or running in a live process -> refused, naming the job and how to stop it;
- equivalent job done, for an idempotent kind (same params, same outputs) -> its result stands.

Everything is checked before a job row is written, so bad input leaves no trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from debias_core.jobs.base import JOB_KINDS, RESUMABLE, mark_interrupted, owner_of
from debias_core.limits import JobLimits
from debias_core.process import ProcessId
from debias_core.store import Store
from debias_core.store.jobs import ACTIVE
from debias_core.store.records import Job, now

Action = Literal["created", "resumed", "finished"]


class JobBusy(ValueError):
    """An equivalent job is already queued or running in a live process."""


@dataclass(frozen=True)
class Submission:
    """What submitting did: a new job, a resumed equivalent one, or a finished equivalent one."""

    job: Job
    action: Action

    @property
    def job_id(self) -> int:
        return self.job.id

    @property
    def runnable(self) -> bool:
        return self.action != "finished"

    def describe(self) -> str:
        job = self.job
        if self.action == "created":
            return f"queued {job.kind} job {job.id}"
        if self.action == "resumed":
            units = f" ({job.units_done}/{job.units_total} units already done)" * bool(
                job.units_total
            )
            return f"resuming {job.kind} job {job.id}, which has the same settings{units}"
        summary = job.result.get("message", "done")
        return (
            f"{job.kind} job {job.id} with the same settings already finished ({summary}); "
            "nothing new to run: change the seed or the counts for new outputs"
        )


def canonical_params(store: Store, kind: str, params: dict, limits: JobLimits) -> dict:
    """Validate `params` for `kind` (unknown kind -> ValueError listing the valid ones)."""
    job_fn = JOB_KINDS.get(kind)
    validate = getattr(job_fn, "validate", None)
    return dict(params) if validate is None else validate(store, params, limits)


def submit_job(
    store: Store,
    kind: str,
    params: dict,
    limits: JobLimits | None = None,
    owner: ProcessId | None = None,
) -> Submission:
    """Create a queued job owned by `owner` (default: this process), or reuse an equivalent one."""
    canonical = canonical_params(store, kind, params, limits or JobLimits.from_env())
    owner_text = (owner or ProcessId.current()).to_text()
    mark_interrupted(store)  # an equivalent job whose process died is resumable, not "running"
    reuse = RESUMABLE + ACTIVE + (("done",) if idempotent(kind) else ())
    job, created = store.create_job_unless_equivalent(kind, canonical, owner_text, reuse)
    if created:
        return Submission(job, "created")
    if job.status == "done":
        return Submission(job, "finished")
    if job.status in RESUMABLE and claim(store, job.id, owner_text):
        return Submission(store.get_job(job.id), "resumed")
    raise busy_error(store, store.get_job(job.id))


def idempotent(kind: str) -> bool:
    return bool(getattr(JOB_KINDS.get(kind), "idempotent", False))


def claim(store: Store, job_id: int, owner_text: str) -> bool:
    """Queue a resumable job under a new owner; False if another process claimed it first."""
    pid = ProcessId.from_text(owner_text).pid
    # heartbeat_at marks when it queued again: a resumed job queues behind earlier submissions.
    return store.claim_job(
        job_id, owner_text, pid, RESUMABLE, message="resuming", heartbeat_at=now()
    )


def busy_error(store: Store, job: Job, twin: bool = True) -> JobBusy:
    """A job that a live process holds: say which process, and how to stop it."""
    owner = owner_of(job)
    where = f" in {owner.describe()}" if owner else ""
    same = " with the same settings" if twin else ""
    return JobBusy(
        f"{job.kind} job {job.id}{same} is {job.status}{where}; wait for it, "
        f"or stop it with: python -m debias_core jobs {store.root} --cancel {job.id}"
    )
