"""The local executor: one worker thread per resource lane, each running its jobs in order.

Jobs of different lanes (see jobs.lanes: diffusion, classifier, features) run at the same time,
so training does not wait behind a long generation; jobs of one lane run one at a time.
"""

from __future__ import annotations

import os
import queue
import threading
import traceback

from debias_core.devices import check_device
from debias_core.jobs.base import (
    JOB_KINDS,
    RESUMABLE,
    InProcessUnits,
    JobCancelled,
    JobContext,
    JobInterrupted,
    UnitRunner,
    fans_out,
    mark_interrupted,
    owner_of,
)
from debias_core.jobs.lanes import lane_of
from debias_core.jobs.submit import Submission, busy_error, claim, submit_job
from debias_core.limits import JobLimits
from debias_core.process import ProcessId
from debias_core.store import Store
from debias_core.store.jobs import ACTIVE
from debias_core.store.records import now


class JobFailed(RuntimeError):
    """A job run in this thread ended failed or cancelled; the job row keeps the details."""


class LocalExecutor:
    """Queue jobs of a project; the UI and CLI submit, then read progress from the job rows.

    `units` runs the work units of the kinds that fan out (generation, personalization): in
    this thread by default; RayExecutor (jobs.ray_executor) hands them to Ray actors.
    """

    def __init__(
        self,
        store: Store,
        device: str = "cpu",
        limits: JobLimits | None = None,
        units: UnitRunner | None = None,
    ) -> None:
        self.store = store
        self.device = check_device(device)  # before any job is queued for it
        self.limits = limits or JobLimits.from_env()
        self.units = units or InProcessUnits()
        self.owner = ProcessId.current()
        self._queues: dict[str, queue.Queue[int]] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()  # handlers submit from several request threads
        self.interrupted = mark_interrupted(store)  # left over from a process that died

    def submit_job(self, kind: str, params: dict) -> Submission:
        """Validate, then queue a new job or resume an equivalent one (see jobs.submit)."""
        submission = submit_job(self.store, kind, params, self.limits, self.owner)
        if submission.runnable:
            record_executor(self.store, submission.job_id, self.units)
            self._enqueue(submission.job_id)
        return submission

    def submit(self, kind: str, params: dict) -> int:
        return self.submit_job(kind, params).job_id

    def resume(self, job_id: int) -> int:
        """Queue an interrupted / failed / cancelled job again; finished units are skipped."""
        claim_for_resume(self.store, job_id, self.owner)
        record_executor(self.store, job_id, self.units)
        self._enqueue(job_id)
        return job_id

    @property
    def label(self) -> str:
        return self.units.label

    def cancel(self, job_id: int) -> None:
        """Ask a job to stop at its next unit boundary (a queued one stops before starting)."""
        self.store.request_cancel(job_id)

    def shutdown(self) -> list[int]:
        """Mark this process's queued / running jobs interrupted (the app is stopping)."""
        mine = self.owner.to_text()
        lost = [j.id for j in self.store.active_jobs() if j.owner == mine]
        message = "the app stopped while this job ran; resume to continue"
        return [j for j in lost if self.store.interrupt_job(j, mine, message)]

    def _enqueue(self, job_id: int) -> None:
        lane = lane_of(self.store.get_job(job_id).kind)
        with self._lock:
            self._queues.setdefault(lane, queue.Queue()).put(job_id)
            thread = self._threads.get(lane)
            if thread is None or not thread.is_alive():
                thread = threading.Thread(
                    target=self._work, args=(lane,), name=f"debias-jobs-{lane}", daemon=True
                )
                self._threads[lane] = thread
                thread.start()

    def _work(self, lane: str) -> None:
        jobs = self._queues[lane]
        while True:
            with self._lock:  # stop only when nothing is queued, so no job is left behind
                if jobs.empty():
                    del self._threads[lane]
                    return
                job_id = jobs.get()
            run_job(self.store, job_id, self.device, self.owner, self.units)

    def wait(self, timeout: float | None = None) -> None:
        """Block until every lane's queue is drained (tests and the CLI); `timeout` is per lane."""
        while True:
            with self._lock:
                threads = list(self._threads.values())
            if not threads:
                return
            for thread in threads:
                thread.join(timeout)
            if any(t.is_alive() for t in threads):
                return  # timed out


def claim_for_resume(store: Store, job_id: int, owner: ProcessId | None = None) -> None:
    """Make `owner` (default: this process) the owner of a resumable job, or say why not."""
    mark_interrupted(store)  # a job whose process died shows as running until checked
    job = store.get_job(job_id)  # KeyError for an unknown id
    if job.status in ACTIVE:
        raise busy_error(store, job, twin=False)
    if job.status not in RESUMABLE:
        raise ValueError(f"job {job_id} is {job.status}; only {RESUMABLE} jobs can resume")
    if not claim(store, job_id, (owner or ProcessId.current()).to_text()):
        raise busy_error(store, store.get_job(job_id), twin=False)


def units_for(kind: str, units: UnitRunner | None) -> UnitRunner:
    """The runner a job of `kind` uses: `units` for a kind that fans out, else this thread."""
    return units if units is not None and fans_out(kind) else InProcessUnits()


def record_executor(store: Store, job_id: int, units: UnitRunner) -> None:
    """Show in the job row which executor will run its units (a queued job shows it too)."""
    store.update_job(job_id, executor=units_for(store.get_job(job_id).kind, units).label)


def run_job(
    store: Store,
    job_id: int,
    device: str = "cpu",
    owner: ProcessId | None = None,
    units: UnitRunner | None = None,
) -> str:
    """Run one job to an end state in this thread; returns the final status.

    `units` runs the work units of a kind that fans out (default: this thread); the job row
    records which. Ctrl-C marks the job 'interrupted' before the KeyboardInterrupt goes on (as
    JobInterrupted), so the next command or app start offers to resume it instead of showing
    it running.
    """
    job = store.get_job(job_id)
    if job.cancel_requested:
        store.update_job(job_id, status="cancelled", finished_at=now())
        return "cancelled"
    owner = owner or ProcessId.current()
    units = units_for(job.kind, units)
    store.update_job(
        job_id,
        status="running",
        started_at=job.started_at or now(),
        pid=os.getpid(),
        owner=owner.to_text(),
        heartbeat_at=now(),
        executor=units.label,
    )
    ctx = JobContext(store, job_id, device, units)
    try:
        summary = JOB_KINDS.get(job.kind)(ctx, job.params)
    except JobCancelled:
        status, fields = "cancelled", {"message": "cancelled"}
    except KeyboardInterrupt:
        message = "stopped by Ctrl-C / a signal; resume to continue"
        store.update_job(job_id, status="interrupted", message=message, heartbeat_at=now())
        raise JobInterrupted(job_id, store.root) from None
    except Exception as exc:  # a job failure is data for the user, not a crash of the app
        status = "failed"
        fields = {
            "error": f"{type(exc).__name__}: {exc}",
            "message": traceback.format_exc(limit=3)[-2000:],
        }
    else:
        status, fields = (
            "done",
            {"progress": 1.0, "message": summary.get("message", "done"), "result": summary},
        )
    store.update_job(
        job_id, status=status, finished_at=now(), units_done=store.units_done(job_id), **fields
    )
    return status


__all__ = [
    "JobFailed",
    "LocalExecutor",
    "claim_for_resume",
    "owner_of",
    "record_executor",
    "run_job",
]
