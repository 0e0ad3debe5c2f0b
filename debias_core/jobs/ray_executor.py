"""The ray executor: a job's work units are drawn by Ray actors; the driver alone writes.

Following Ray's batch-inference pattern (an actor loads the model once, then maps batches), a
job that fans out (generation, personalization) starts a few `UnitWorker` actors that each load
the backbone once: one GPU each (`num_gpus=1`) for a CUDA job, else CPU actors that reserve the
driver's thread count. Units go to the actors a few at a time and come back in plan order, as
images + recipes (or learned tensors + loss records); the job body saves each one in its own
transaction, exactly as on the local executor. A crash of a worker or of the driver therefore
loses at most the units in flight, and a resume (on either executor) skips the finished ones.

- A worker that dies mid-unit is restarted by Ray and its units are retried (`max_restarts`,
  `max_task_retries`); nothing was written for them, so nothing is duplicated.
- The driver's death ends its actors with it (Ray ties them to their owner); the job row stays
  'running' for a dead process, which the next command or app start marks 'interrupted'.
- Same images as the local executor: workers run the same code with the same seeds, device
  type and CPU thread count (the recipe's machine kind records the threads).

Workers read the project (source pixels, masks, artifact files) from the same path as the
driver, so a multi-machine cluster needs the project folder and the backbone on a shared
filesystem at the same path. Without an address, a local cluster is started on loopback only.
"""

from __future__ import annotations

import collections
import itertools
import os
from dataclasses import dataclass
from pathlib import Path

from debias_core.jobs.base import CANCEL_POLL_SECONDS
from debias_core.jobs.executor import import_ray
from debias_core.jobs.local import LocalExecutor
from debias_core.limits import JobLimits
from debias_core.store import Store

WORKER_RESTARTS = 3  # a worker process that dies is started again this many times
TASK_RETRIES = 3  # and the units it held are retried on it
UNITS_PER_WORKER = 2  # in flight per actor: the next unit is queued while one is drawn
REPO_ROOT = Path(__file__).resolve().parents[2]  # so workers import this very debias_core


@dataclass(frozen=True)
class FaultPlan:
    """For the fault tests: the first worker to finish drawing a unit exits hard before handing
    it back, once (the marker file records that it happened), so Ray must redo that unit."""

    marker: str

    def strike(self) -> None:
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.close(fd)
        os._exit(1)


class UnitWorker:
    """A Ray actor: the backbone loaded once, then any number of units drawn with it."""

    def __init__(
        self,
        root: str,
        backbone: tuple[str, str],
        device: str,
        threads: int,
        fault: FaultPlan | None,
    ) -> None:
        import torch

        from debias_core.models.cache import cached_backbone

        torch.set_num_threads(threads)  # the driver's: the same kernels, the same pixels
        self.store = Store(Path(root))  # read only: the driver writes every result
        self.device, self.fault = device, fault
        spec, dtype = backbone
        cached_backbone(spec, device, dtype)

    def run(self, work, unit):
        result = work(self.store, self.device, unit)
        if self.fault is not None:
            self.fault.strike()
        return result


def worker_device(device: str) -> str:
    """A worker's device: one GPU of its own (Ray sets CUDA_VISIBLE_DEVICES) or the CPU."""
    kind = device.split(":", 1)[0]
    if kind not in ("cpu", "cuda"):
        raise ValueError(f"the ray executor runs units on cpu or cuda, not {device!r}")
    return kind


def connect(address: str | None):
    """Join the cluster at `address`, or start a local one on loopback (once per process)."""
    ray = import_ray(loopback=address is None)
    if ray.is_initialized():
        return ray
    options = {
        "address": address,
        "logging_level": "ERROR",
        "log_to_driver": False,
        "job_config": ray.job_config.JobConfig(code_search_path=[str(REPO_ROOT)]),
    }
    if address is None:
        options |= {"include_dashboard": False, "_node_ip_address": "127.0.0.1"}
    ray.init(**options)
    return ray


class RayUnits:
    """A jobs.UnitRunner that draws units on Ray actors and yields results in plan order."""

    def __init__(
        self,
        address: str | None = None,
        max_workers: int | None = None,
        fault: FaultPlan | None = None,
    ) -> None:
        self.address, self.max_workers, self.fault = address, max_workers, fault

    @property
    def label(self) -> str:
        return "ray" if self.address is None else f"ray@{self.address}"

    def map(self, ctx, work, units, live=None):
        """(unit, result) in order; `live` is not used: progress comes when a unit returns."""
        import torch

        ray = connect(self.address)
        device = worker_device(ctx.device)
        threads = torch.get_num_threads()
        units = iter(units)
        slots = self.worker_count(ray, device, threads)
        head = list(itertools.islice(units, slots * UNITS_PER_WORKER))
        if not head:
            return
        actors = self.start(ray, ctx.store.root, work, device, threads, min(slots, len(head)))
        try:
            yield from self.ordered(ray, ctx, work, itertools.chain(head, units), actors)
        finally:
            for actor in actors:  # a cancel, Ctrl-C or error: nothing of them stays behind
                ray.kill(actor)

    def worker_count(self, ray, device: str, threads: int) -> int:
        """Actors the cluster can hold: one per GPU, or one per `threads` CPUs."""
        resources = ray.cluster_resources()
        if device == "cuda":
            count = int(resources.get("GPU", 0))
            need = "GPU"
        else:
            count = int(resources.get("CPU", 0) // threads)
            need = f"{threads} CPUs (the driver's torch thread count)"
        if count < 1:
            raise ValueError(f"the Ray cluster has no room for one worker: each needs {need}")
        return min(count, self.max_workers or count)

    def start(self, ray, root, work, device: str, threads: int, count: int) -> list:
        gpu = device == "cuda"
        actor = ray.remote(UnitWorker).options(
            num_cpus=1 if gpu else threads,
            num_gpus=1 if gpu else 0,
            max_restarts=WORKER_RESTARTS,
            max_task_retries=TASK_RETRIES,
        )
        return [
            actor.remote(str(root), work.backbone, device, threads, self.fault)
            for _ in range(count)
        ]

    def ordered(self, ray, ctx, work, units, actors):
        """Keep every actor busy, hand results back in plan order; a cancel is seen while
        waiting (the actors are killed by the caller)."""
        work_ref = ray.put(work)
        free = collections.deque(actors * UNITS_PER_WORKER)
        flight: collections.deque = collections.deque()

        def fill() -> None:
            while free:
                unit = next(units, None)  # pulling a unit checks for a cancel (ctx.pending)
                if unit is None:
                    return
                actor = free.popleft()
                flight.append((unit, actor, actor.run.remote(work_ref, unit)))

        fill()
        while flight:
            unit, actor, ref = flight.popleft()
            while not ray.wait([ref], timeout=2 * CANCEL_POLL_SECONDS)[0]:
                ctx.check_cancel()
            result = ray.get(ref)
            free.append(actor)
            fill()
            yield unit, result


class RayExecutor(LocalExecutor):
    """The local executor's lanes and job rows, with generation and personalization units
    drawn on a Ray cluster (`address`, or a local one started on loopback)."""

    def __init__(
        self,
        store: Store,
        device: str = "cpu",
        limits: JobLimits | None = None,
        address: str | None = None,
        **options,
    ) -> None:
        import_ray(loopback=address is None)  # one clear line before anything is queued
        super().__init__(store, device, limits, units=RayUnits(address, **options))


__all__ = ["FaultPlan", "RayExecutor", "RayUnits", "connect"]
