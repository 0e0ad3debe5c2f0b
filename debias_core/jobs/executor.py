"""The executor seam: what queues, resumes and cancels jobs, and where their work units run.

Two executors implement `Executor`: `local` (jobs.local.LocalExecutor: one thread per resource
lane, units drawn in this process) and `ray` (jobs.ray_executor.RayExecutor: the same lanes, but
the units of the kinds that fan out, generation and personalization, are drawn by Ray actors).
In both the driver alone writes to the project, one unit per transaction, so switching executor
between runs of one job (a resume) is safe: finished units are skipped either way.

Job kinds still register in one place (jobs/kinds.py); a kind that fans out says so there
(`fans_out = True`). The executor a job runs on is chosen per job and recorded in its row.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from debias_core.jobs.base import InProcessUnits, UnitRunner

if TYPE_CHECKING:
    from debias_core.jobs.submit import Submission
    from debias_core.limits import JobLimits
    from debias_core.store import Store

EXECUTORS = ("local", "ray")
RAY_PACKAGE = "ray==2.60.0"


class Executor(Protocol):
    """Queues jobs of one project and runs them; progress is read from the job rows."""

    label: str  # what the jobs table shows: "local", "ray" or "ray@ADDRESS"

    def submit_job(self, kind: str, params: dict) -> Submission: ...

    def submit(self, kind: str, params: dict) -> int: ...

    def resume(self, job_id: int) -> int: ...

    def cancel(self, job_id: int) -> None: ...

    def shutdown(self) -> list[int]: ...


class RayMissing(ValueError):
    """The ray executor was chosen but Ray is not installed (one line naming the package)."""


def import_ray(loopback: bool = False):
    """The `ray` module, or RayMissing saying how to install it. `loopback`: a cluster this
    process starts binds 127.0.0.1 only (Ray reads the setting once, when it is imported)."""
    if loopback:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise RayMissing(
            f"the ray executor needs Ray, which is not installed: pip install {RAY_PACKAGE} "
            "(or choose --executor local)"
        ) from None
    return ray


@dataclass(frozen=True)
class ExecutorChoice:
    """Which executor runs a job: `local`, or `ray` on the cluster at `address` (None: a local
    Ray cluster this process starts, listening on loopback only)."""

    name: str = "local"
    address: str | None = None

    def __post_init__(self) -> None:
        if self.name not in EXECUTORS:
            raise ValueError(f"executor must be one of {list(EXECUTORS)}, got {self.name!r}")
        address = (self.address or "").strip() or None
        if address is not None and self.name != "ray":
            raise ValueError("a Ray address needs the ray executor (--executor ray)")
        object.__setattr__(self, "address", address)

    @property
    def label(self) -> str:
        return self.name if self.address is None else f"{self.name}@{self.address}"

    def check(self) -> ExecutorChoice:
        """Refuse a choice this machine cannot run (Ray not installed) before a job is queued."""
        if self.name == "ray":
            import_ray(loopback=self.address is None)
        return self

    def units(self, **options) -> UnitRunner:
        """The unit runner of this choice (`options`: the Ray runner's, see jobs.ray_executor)."""
        if self.name == "local":
            return InProcessUnits()
        from debias_core.jobs.ray_executor import RayUnits

        return RayUnits(self.address, **options)


LOCAL = ExecutorChoice()


def make_executor(
    choice: ExecutorChoice,
    store: Store,
    device: str = "cpu",
    limits: JobLimits | None = None,
) -> Executor:
    """The executor of `choice` for one project (Ray: checked importable first)."""
    if choice.check().name == "local":
        from debias_core.jobs.local import LocalExecutor

        return LocalExecutor(store, device, limits)
    from debias_core.jobs.ray_executor import RayExecutor

    return RayExecutor(store, device, limits, address=choice.address)


__all__ = ["EXECUTORS", "LOCAL", "Executor", "ExecutorChoice", "RayMissing", "make_executor"]
