"""Persisted jobs: the kinds of long work, and the context a running job reports through.

A job is a row in the store (kind, params, status, progress, error, units done). Work is cut into
units; each unit's results are written together with its "done" mark, so a crash loses at most
the unit in flight and a resumed job skips what is already done.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from debias_core.registry import Registry
from debias_core.store import Store
from debias_core.store.records import now


class JobCancelled(RuntimeError):
    """Raised inside a job when a cancel was requested; the job ends as 'cancelled'."""


@dataclass
class JobContext:
    """Handed to a job function: report progress, check for cancel, skip finished units."""

    store: Store
    job_id: int
    device: str = "cpu"

    def progress(self, fraction: float, message: str = "") -> None:
        """Persist progress (and a heartbeat); raise JobCancelled if a cancel was requested."""
        self.store.update_job(
            self.job_id,
            progress=float(min(max(fraction, 0.0), 1.0)),
            message=message,
            heartbeat_at=now(),
            units_done=self.store.units_done(self.job_id),
        )
        self.check_cancel()

    def check_cancel(self) -> None:
        if self.store.get_job(self.job_id).cancel_requested:
            raise JobCancelled(f"job {self.job_id} was cancelled")

    def unit_done(self, unit_key: str) -> bool:
        return self.store.unit_done(self.job_id, unit_key)

    def set_units_total(self, total: int) -> None:
        self.store.update_job(self.job_id, units_total=int(total))


class JobFunction(Protocol):
    """Runs one kind of job; returns a short JSON-able summary stored with the job."""

    def __call__(self, ctx: JobContext, params: dict[str, Any]) -> dict: ...


JOB_KINDS: Registry[JobFunction] = Registry("job kind")


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def mark_interrupted(store: Store, live_pids: Callable[[int | None], bool] = pid_alive) -> list:
    """Jobs left queued or running by a process that is gone become 'interrupted' (resumable)."""
    lost = [j.id for j in store.active_jobs() if j.pid != os.getpid() and not live_pids(j.pid)]
    for job_id in lost:
        store.update_job(
            job_id,
            status="interrupted",
            message="the process running this job stopped; resume to continue",
        )
    return lost
