"""Persisted jobs (with work units, for resume) and training / evaluation runs."""

from __future__ import annotations

from debias_core.store.records import Job, Run, dumps, now
from debias_core.store.schema import job_config_key

ACTIVE = ("queued", "running")


class JobsMixin:
    # -- jobs --------------------------------------------------------------------------------
    def create_job(
        self, kind: str, params: dict, units_total: int = 0, owner: str | None = None
    ) -> int:
        row = {
            "kind": kind,
            "params": dumps(params),
            "config_key": job_config_key(kind, dumps(params)),
            "owner": owner,
            "status": "queued",
            "progress": 0.0,
            "units_total": units_total,
            "created_at": now(),
        }
        with self.write() as db:
            return db["jobs"].insert(row).last_pk

    def get_job(self, job_id: int) -> Job:
        rows = self.query("select * from jobs where id = ?", [int(job_id)])
        if not rows:
            raise KeyError(f"no job with id {job_id}")
        return Job.from_row(rows[0])

    def list_jobs(self, limit: int = 50) -> list[Job]:
        rows = self.query("select * from jobs order by id desc limit ?", [limit])
        return [Job.from_row(r) for r in rows]

    def update_job(self, job_id: int, **fields) -> None:
        for key in ("params", "result"):
            if key in fields:
                fields[key] = dumps(fields[key])
        with self.write() as db:
            db["jobs"].update(int(job_id), fields)

    def request_cancel(self, job_id: int) -> None:
        self.get_job(job_id)  # raises KeyError for an unknown job
        self.update_job(job_id, cancel_requested=1)

    def unit_done(self, job_id: int, unit_key: str) -> bool:
        return bool(
            self.query(
                "select 1 from job_units where job_id = ? and unit_key = ?", [job_id, unit_key]
            )
        )

    def mark_unit_done(self, job_id: int, unit_key: str) -> None:
        with self.write() as db:
            db["job_units"].insert(
                {"job_id": job_id, "unit_key": unit_key, "done_at": now()}, ignore=True
            )

    def units_done(self, job_id: int) -> int:
        return self.query("select count(*) as n from job_units where job_id = ?", [job_id])[0]["n"]

    def active_jobs(self) -> list[Job]:
        rows = self.query(f"select * from jobs where status in {ACTIVE} order by id")
        return [Job.from_row(r) for r in rows]

    # -- runs --------------------------------------------------------------------------------
    def create_run(
        self, kind: str, method: str, config: dict, run_dir: str = "", job_id: int | None = None
    ) -> int:
        row = {
            "kind": kind,
            "method": method,
            "config": dumps(config),
            "status": "running",
            "dir": run_dir,
            "job_id": job_id,
            "created_at": now(),
        }
        with self.write() as db:
            return db["runs"].insert(row).last_pk

    def finish_run(
        self,
        run_id: int,
        metrics: dict,
        synthetic_ids=(),
        status="done",
        run_dir: str | None = None,
    ) -> None:
        fields = {
            "metrics": dumps(metrics),
            "synthetic_ids": dumps(list(synthetic_ids)),
            "status": status,
            "finished_at": now(),
        }
        if run_dir is not None:
            fields["dir"] = run_dir
        with self.write() as db:
            db["runs"].update(int(run_id), fields)

    def get_run(self, run_id: int) -> Run:
        rows = self.query("select * from runs where id = ?", [int(run_id)])
        if not rows:
            raise KeyError(f"no run with id {run_id}")
        return Run.from_row(rows[0])

    def list_runs(self, kind: str | None = None) -> list[Run]:
        sql, params = ("where kind = ?", [kind]) if kind else ("", [])
        return [
            Run.from_row(r) for r in self.query(f"select * from runs {sql} order by id", params)
        ]
