"""Persisted jobs: the kinds of long work, and the context a running job reports through.

A job is a row in the store (kind, params, status, progress, error, units done, owner). Work is
cut into units; each unit's results are written together with its "done" mark, so a crash loses
at most the unit in flight and a resumed job skips what is already done.

A job kind is a function `(ctx, params) -> summary` registered in JOB_KINDS (in
`debias_core/jobs/kinds.py`), with optional attributes:

- `validate(store, params, limits) -> dict`: refuse bad or oversized params before anything is
  queued; returns the canonical params (defaults filled in), which decide job equivalence.
- `idempotent = True`: the same params always produce the same outputs (generation with fixed
  seeds), so a finished equivalent job is the answer instead of a duplicate run.
- `fans_out = True`: its units go through `ctx.map_units`, so an executor may draw them on
  other processes or machines (jobs.ray_executor); the body alone writes them.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from debias_core.process import ProcessId
from debias_core.registry import Registry
from debias_core.store import Store
from debias_core.store.records import Job, now

T = TypeVar("T")
R = TypeVar("R")
RESUMABLE = ("interrupted", "failed", "cancelled")
CANCEL_POLL_SECONDS = 0.25  # how often planning / skipping looks for a cancel request


class JobCancelled(RuntimeError):
    """Raised inside a job when a cancel was requested; the job ends as 'cancelled'."""


class JobInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM in the CLI) stopped a job; it was marked 'interrupted' first."""

    def __init__(self, job_id: int, root) -> None:
        super().__init__(
            f"job {job_id} interrupted; resume it with: python -m debias_core jobs {root} "
            f"--resume {job_id}"
        )
        self.job_id = job_id


class UnitWork(Protocol[T, R]):
    """What one work unit computes, apart from writing it: picklable, so an executor may run it
    in another process (a Ray actor) with the project opened there for reading only.

    `backbone` is (spec, dtype) of the model it draws with, so a worker loads it once up front.
    `live`, when given, is called as the unit goes (in the driver's own process only).
    """

    backbone: tuple[str, str]

    def __call__(self, store: Store, device: str, unit: T, live: Callable | None = None) -> R: ...


class UnitRunner(Protocol):
    """Maps a job's pending units through a UnitWork and yields (unit, result) in unit order.

    The job body writes each result to the store as it comes (the driver alone writes), so a
    crash loses at most the units in flight. `live(unit)` gives a unit's live callback, used
    when the units run in this process.
    """

    label: str  # stored in the job row: "local", "ray" or "ray@ADDRESS"

    def map(
        self,
        ctx: JobContext,
        work: UnitWork[T, R],
        units: Iterable[T],
        live: Callable[[T], Callable] | None = None,
    ) -> Iterator[tuple[T, R]]: ...


class InProcessUnits:
    """Today's way: each unit runs in this thread, one after the other."""

    label = "local"

    def map(self, ctx, work, units, live=None):
        for unit in units:
            yield unit, work(ctx.store, ctx.device, unit, live(unit) if live else None)


@dataclass
class JobContext:
    """Handed to a job function: report progress, check for cancel, skip finished units, and
    run units through the executor's `units` runner (in this thread, or on Ray actors)."""

    store: Store
    job_id: int
    device: str = "cpu"
    units: UnitRunner = field(default_factory=InProcessUnits)
    _last_cancel_check: float = field(default=0.0, repr=False)

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
        self._last_cancel_check = time.monotonic()
        if self.store.get_job(self.job_id).cancel_requested:
            raise JobCancelled(f"job {self.job_id} was cancelled")

    def check_cancel_soon(self) -> None:
        """A cheap cancel check for tight loops: reads the store at most every 0.25 s."""
        if time.monotonic() - self._last_cancel_check >= CANCEL_POLL_SECONDS:
            self.check_cancel()

    def unit_done(self, unit_key: str) -> bool:
        return self.store.unit_done(self.job_id, unit_key)

    def set_units_total(self, total: int) -> None:
        self.store.update_job(self.job_id, units_total=int(total))

    def map_units(
        self,
        work: UnitWork[T, R],
        units: Iterable[T],
        live: Callable[[T], Callable] | None = None,
    ) -> Iterator[tuple[T, R]]:
        """(unit, result) for each unit, in order, computed by the executor's unit runner."""
        return self.units.map(self, work, units, live)

    def pending(self, units: Iterable[T], key: Callable[[T], str]) -> Iterator[T]:
        """The units not done yet, in order, consumed lazily; a cancel stops the skipping too."""
        done = self.store.done_unit_keys(self.job_id)
        for unit in units:
            self.check_cancel_soon()
            if key(unit) not in done:
                yield unit


class JobFunction(Protocol):
    """Runs one kind of job; returns a short JSON-able summary stored with the job."""

    def __call__(self, ctx: JobContext, params: dict[str, Any]) -> dict: ...


JOB_KINDS: Registry[JobFunction] = Registry("job kind")


def fans_out(kind: str) -> bool:
    """Whether a kind's units may run elsewhere (Ray actors): `fans_out = True` in kinds.py."""
    return kind in JOB_KINDS and bool(getattr(JOB_KINDS.get(kind), "fans_out", False))


def owner_of(job: Job) -> ProcessId | None:
    """The process recorded as running `job` (rows from before ownership have only a pid)."""
    owner = ProcessId.from_text(job.owner)
    if owner is None and job.pid:
        owner = ProcessId(socket.gethostname(), int(job.pid))  # no start time: pid check only
    return owner


def owner_state(job: Job) -> str:
    """'alive', 'gone' or 'unknown' (owned on another host) for the job's recorded owner."""
    owner = owner_of(job)
    return "gone" if owner is None else owner.state()


def mark_interrupted(store: Store) -> list[int]:
    """Queued / running jobs whose owning process is gone become 'interrupted' (resumable).

    "Gone" uses the process start time as well as the PID, so a PID reused by an unrelated
    process does not keep a dead job looking alive. Jobs owned on another host are left alone.
    """
    lost = []
    for job in store.active_jobs():
        if owner_state(job) == "gone" and store.interrupt_job(
            job.id, job.owner, "the process running this job stopped; resume to continue"
        ):
            lost.append(job.id)
    return lost


# A progress watcher ends within one poll (0.5 s) of its job's end; generous for a loaded machine.
WATCHER_JOIN_S = 30.0


def watch_progress(store: Store, job_id: int, progress) -> threading.Thread:
    """Mirror a job's persisted progress to a callback (CLI output) from a daemon thread.

    The thread ends once the job row is final; join it after running the job, so that the last
    progress line is out before the command's own result (it polls every half second, and used
    to print "[100.0%] ..." after the command had returned)."""

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

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    return watcher
