"""The local executor: one worker thread runs one GPU-bound job at a time, in submission order."""

from __future__ import annotations

import os
import queue
import threading
import traceback

from debias_core.jobs.base import JOB_KINDS, JobCancelled, JobContext, mark_interrupted
from debias_core.store import Store
from debias_core.store.records import now

RESUMABLE = ("interrupted", "failed", "cancelled")


class JobFailed(RuntimeError):
    """A job run in this thread ended failed or cancelled; the job row keeps the details."""


class LocalExecutor:
    """Queue jobs of a project; the UI and CLI submit, then read progress from the job rows."""

    def __init__(self, store: Store, device: str = "cpu") -> None:
        self.store = store
        self.device = device
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.interrupted = mark_interrupted(store)  # left over from a process that died

    def submit(self, kind: str, params: dict) -> int:
        job_fn = JOB_KINDS.get(kind)  # unknown kind -> ValueError listing the valid ones
        validate = getattr(job_fn, "validate", None)
        if validate is not None:  # bad parameters fail here, before a job row exists
            validate(self.store, params)
        job_id = self.store.create_job(kind, params)
        self.store.update_job(job_id, pid=os.getpid())
        self._enqueue(job_id)
        return job_id

    def resume(self, job_id: int) -> int:
        """Queue an interrupted / failed / cancelled job again; finished units are skipped."""
        job = self.store.get_job(job_id)
        if job.status not in RESUMABLE:
            raise ValueError(f"job {job_id} is {job.status}; only {RESUMABLE} jobs can resume")
        self.store.update_job(
            job_id,
            status="queued",
            cancel_requested=0,
            error="",
            pid=os.getpid(),
            message="resuming",
        )
        self._enqueue(job_id)
        return job_id

    def cancel(self, job_id: int) -> None:
        """Ask a job to stop at its next unit boundary (a queued one stops before starting)."""
        self.store.request_cancel(job_id)

    def _enqueue(self, job_id: int) -> None:
        self._queue.put(job_id)
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="debias-jobs", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            try:
                job_id = self._queue.get(timeout=1.0)
            except queue.Empty:
                return
            run_job(self.store, job_id, self.device)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the queue is drained (tests and the CLI)."""
        if self._thread is not None:
            self._thread.join(timeout)


def run_job(store: Store, job_id: int, device: str = "cpu") -> str:
    """Run one job to an end state in this thread; returns the final status."""
    job = store.get_job(job_id)
    if job.cancel_requested:
        store.update_job(job_id, status="cancelled", finished_at=now())
        return "cancelled"
    store.update_job(
        job_id,
        status="running",
        started_at=job.started_at or now(),
        pid=os.getpid(),
        heartbeat_at=now(),
    )
    ctx = JobContext(store, job_id, device)
    try:
        summary = JOB_KINDS.get(job.kind)(ctx, job.params)
    except JobCancelled:
        status, fields = "cancelled", {"message": "cancelled"}
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


def run_now(store: Store, kind: str, params: dict, device: str = "cpu", progress=None):
    """Validate, queue and run one job in this thread (CLI, benches); returns the finished Job.

    `progress(fraction, message)` mirrors the persisted progress. Raises JobFailed when the job
    does not end 'done' (its error is in the message; resume it to continue).
    """
    job_fn = JOB_KINDS.get(kind)
    validate = getattr(job_fn, "validate", None)
    if validate is not None:
        validate(store, params)
    job_id = store.create_job(kind, params)
    if progress is not None:
        watch_progress(store, job_id, progress)
    status = run_job(store, job_id, device)
    job = store.get_job(job_id)
    if status != "done":
        raise JobFailed(f"{kind} job {job_id} {status}: {job.error or job.message}")
    return job


def watch_progress(store: Store, job_id: int, progress) -> None:
    """Mirror a job's persisted progress to a callback (CLI output) from a daemon thread."""
    import time

    def poll() -> None:
        last = None
        while True:
            job = store.get_job(job_id)
            if job.status in ("failed", "cancelled"):
                return  # the caller reports it in one line; the row keeps the traceback
            if (job.progress, job.message) != last:
                last = (job.progress, job.message)
                progress(job.progress, job.message)
            if job.finished or job.status == "interrupted":
                return
            time.sleep(0.5)

    threading.Thread(target=poll, daemon=True).start()
