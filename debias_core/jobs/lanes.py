"""Resource lanes: which jobs may run at the same time, and what a queued job waits for.

Each job kind declares the resource it holds while it runs (`job_fn.resource`, set in
`debias_core/jobs/kinds.py`): the diffusion backbone (generate, personalize, and the scoring of
generated images), a classifier being trained, or a feature extractor (embeddings, UMAP). The
local executor runs one job per lane at a time, so training no longer waits behind a long
generation; two jobs of one lane would load and fight over the same model, so they queue.

Queue order is what the executor follows: submission (or resume) time, then id. Everything
here reads the job rows, so the app and `jobs DIR` show the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from debias_core.jobs.base import JOB_KINDS
from debias_core.store import Store
from debias_core.store.records import Job

DEFAULT_LANE = "device"  # a kind that declares nothing shares one lane with the other such kinds


def lane_of(kind: str) -> str:
    """The resource lane a job kind runs in (an unknown kind, e.g. a newer version's: its own)."""
    if kind not in JOB_KINDS:
        return kind
    return getattr(JOB_KINDS.get(kind), "resource", DEFAULT_LANE)


@dataclass(frozen=True)
class QueuePlace:
    """Where a queued job stands in its lane: 1 = next to start."""

    job_id: int
    lane: str
    position: int
    running: tuple[Job, ...]  # what holds the lane now (in the same process)

    def describe(self) -> str:
        waits = [f"job {j.id} ({j.kind}, {j.progress:.0%})" for j in self.running]
        if self.position > 1:
            before = self.position - 1
            waits.append(f"{before} queued job{'s' * (before > 1)} before it")
        behind = f"waits for {' and '.join(waits)}" if waits else "starts next"
        return f"#{self.position} in the {self.lane} queue; {behind}"


def queue_order(job: Job) -> tuple:
    # A resumed job is queued again when claimed (heartbeat_at is set then), so it queues
    # behind the jobs submitted before the resume, as the executor runs them.
    return (job.heartbeat_at or job.created_at or "", job.id)


def queue_places(store: Store, active: list[Job] | None = None) -> dict[int, QueuePlace]:
    """Every queued job's place in its lane, among the jobs of the same owner (one executor)."""
    active = store.active_jobs() if active is None else active
    lines: dict[tuple, list[Job]] = {}
    for job in active:
        lines.setdefault((job.owner, lane_of(job.kind)), []).append(job)
    places = {}
    for (_, lane), jobs in lines.items():
        running = tuple(j for j in jobs if j.status == "running")
        queued = sorted((j for j in jobs if j.status == "queued"), key=queue_order)
        for position, job in enumerate(queued, start=1):
            places[job.id] = QueuePlace(job.id, lane, position, running)
    return places
