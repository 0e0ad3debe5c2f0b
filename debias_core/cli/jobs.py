"""Job commands: `jobs DIR` lists a project's jobs; `--resume ID` / `--cancel ID` act on one."""

from __future__ import annotations

import json
import sys

from debias_core.cli.common import (
    add_device_arg,
    add_executor_args,
    add_project_arg,
    executor_choice,
    open_project,
    positive_int,
    progress_printer,
)

COLUMNS = ("id", "kind", "status", "progress", "units", "executor", "started", "finished", "note")


def job_summary(job, place=None) -> dict:
    """One job as plain data: what `jobs --json` prints, one dict per job.

    `place` (a queued job's jobs.lanes.QueuePlace) says where it stands and what it waits for.
    """
    from debias_core.jobs import owner_of
    from debias_core.jobs.lanes import lane_of

    owner = owner_of(job)
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress": round(job.progress, 4),
        "units_done": job.units_done,
        "units_total": job.units_total,
        "executor": job.executor,
        "started": job.started_at,
        "finished": job.finished_at,
        "error": job.error,
        "message": job.message.splitlines()[0] if job.message else "",
        "owner": owner.describe() if owner else None,
        "params": job.params,
        "lane": lane_of(job.kind),
        "queue_position": place.position if place else None,
        "waiting_for": place.describe() if place else None,
    }


def format_jobs_table(rows: list[dict]) -> str:
    if not rows:
        return "no jobs in this project"
    lines = [
        (
            str(r["id"]),
            r["kind"],
            r["status"],
            f"{r['progress']:.0%}",
            f"{r['units_done']}/{r['units_total']}" if r["units_total"] else "",
            r["executor"],
            (r["started"] or "")[:19].replace("T", " "),
            (r["finished"] or "")[:19].replace("T", " "),
            (r["error"] or r["waiting_for"] or "")[:80],
        )
        for r in rows
    ]
    widths = [max(len(c), *(len(line[i]) for line in lines)) for i, c in enumerate(COLUMNS)]
    out = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))]
    out += ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(line.rstrip() for line in out)


def cmd_jobs(args) -> int:
    store = open_project(args)  # marks jobs of dead processes interrupted first
    if args.cancel is not None:
        return cancel(store, args.cancel)
    if args.resume is not None:
        return resume(store, args.resume, args.device, executor_choice(args))
    from debias_core.jobs.lanes import queue_places

    places = queue_places(store)
    rows = [job_summary(j, places.get(j.id)) for j in store.list_jobs(limit=args.limit)]
    print(json.dumps(rows, indent=2) if args.json else format_jobs_table(rows))
    return 0


def cancel(store, job_id: int) -> int:
    """Queued / running: ask the owner to stop at its next check. Interrupted / failed: close it."""
    job = store.get_job(job_id)  # KeyError: "no job with id N"
    if job.status in ("queued", "running"):
        store.request_cancel(job_id)
        print(f"cancel requested for job {job_id}; it stops at its next check")
    elif job.status in ("interrupted", "failed"):
        store.update_job(job_id, status="cancelled", cancel_requested=1, message="cancelled")
        print(f"job {job_id} was {job.status}; now cancelled")
    else:
        raise ValueError(f"job {job_id} is {job.status}; only unfinished jobs can be cancelled")
    return 0


def resume(store, job_id: int, device: str, executor) -> int:
    """Run an interrupted / failed / cancelled job to its end in this process; `executor` (an
    ExecutorChoice) draws its units, whichever executor ran it before."""
    from debias_core.jobs import claim_for_resume, run_job, watch_progress
    from debias_core.jobs.base import WATCHER_JOIN_S
    from debias_core.jobs.local import record_executor

    units = executor.units()
    claim_for_resume(store, job_id)
    record_executor(store, job_id, units)
    job = store.get_job(job_id)
    done = f" ({job.units_done}/{job.units_total} units already done)" if job.units_total else ""
    print(f"resuming {job.kind} job {job_id} on {job.executor}{done}", file=sys.stderr)
    watcher = watch_progress(store, job_id, progress_printer())
    status = run_job(store, job_id, device, units=units)
    watcher.join(WATCHER_JOIN_S)
    job = store.get_job(job_id)
    if status != "done":
        raise RuntimeError(f"job {job_id} {status}: {job.error or job.message}")
    print(f"job {job_id} done: {job.result.get('message', 'done')}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "jobs",
        help="list a project's jobs; resume or cancel one",
        description="List the project's jobs (newest first), or act on one. Jobs whose "
        "process stopped (crash, kill, Ctrl-C) show as interrupted and can be resumed; "
        "finished units are never redone.",
    )
    add_project_arg(p)
    action = p.add_mutually_exclusive_group()
    action.add_argument(
        "--resume", type=positive_int, metavar="ID", help="run job ID to its end in this process"
    )
    action.add_argument(
        "--cancel", type=positive_int, metavar="ID", help="stop job ID (at its next unit)"
    )
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.add_argument("--limit", type=positive_int, default=50, help="list at most N jobs")
    add_device_arg(p, "torch device for --resume (cpu, cuda, cuda:1, mps)")
    add_executor_args(p)
    p.set_defaults(func=cmd_jobs)
