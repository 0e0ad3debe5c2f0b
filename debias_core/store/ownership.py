"""Job ownership and equivalence: who runs a job, claiming it atomically, finding its twin.

The owner is stored as text (a `debias_core.process.ProcessId` in JSON); deciding whether that
process is still alive is the jobs layer's business. Every verb here that changes a job checks,
in the same transaction, that the row is still in the state the caller saw, so two processes
resuming or interrupting the same job cannot both win.
"""

from __future__ import annotations

from collections.abc import Sequence

from debias_core.store.records import Job, dumps, now
from debias_core.store.schema import job_config_key


class JobOwnershipMixin:
    def equivalent_job(
        self, kind: str, params: dict, statuses: Sequence[str] | None = None
    ) -> Job | None:
        """The newest job of `kind` with the same canonical params (and one of `statuses`)."""
        key = job_config_key(kind, dumps(params))
        sql, args = "select * from jobs where kind = ? and config_key = ?", [kind, key]
        if statuses is not None:
            sql += f" and status in ({','.join('?' * len(statuses)) or 'null'})"
            args += list(statuses)
        rows = self.query(sql + " order by id desc limit 1", args)
        return Job.from_row(rows[0]) if rows else None

    def create_job_unless_equivalent(
        self, kind: str, params: dict, owner: str, reuse: Sequence[str]
    ) -> tuple[Job, bool]:
        """(the newest equivalent job in a `reuse` status, False), else (a new job, True).

        One transaction, so two processes submitting the same work cannot both create it.
        """
        with self.write():
            existing = self.equivalent_job(kind, params, reuse)
            if existing is not None:
                return existing, False
            job_id = self.create_job(kind, params, owner=owner)
            return self.get_job(job_id), True

    def claim_job(
        self, job_id: int, owner: str, pid: int, from_statuses: Sequence[str], **fields
    ) -> bool:
        """Make `owner` the job's owner and queue it, if its status is one of `from_statuses`."""
        values = {
            "status": "queued",
            "owner": owner,
            "pid": pid,
            "cancel_requested": 0,
            "error": "",
            **fields,
        }
        sets = ", ".join(f"{k} = ?" for k in values)
        marks = ",".join("?" * len(from_statuses))
        with self.write() as db:
            cursor = db.execute(
                f"update jobs set {sets} where id = ? and status in ({marks})",
                [*values.values(), int(job_id), *from_statuses],
            )
            return cursor.rowcount == 1

    def interrupt_job(self, job_id: int, seen_owner: str | None, message: str) -> bool:
        """Mark a queued / running job interrupted, unless another owner claimed it meanwhile."""
        with self.write() as db:
            cursor = db.execute(
                "update jobs set status = 'interrupted', message = ?, heartbeat_at = ?"
                " where id = ? and status in ('queued', 'running') and owner is ?",
                [message, now(), int(job_id), seen_owner],
            )
            return cursor.rowcount == 1

    def done_unit_keys(self, job_id: int) -> set[str]:
        rows = self.query("select unit_key from job_units where job_id = ?", [int(job_id)])
        return {r["unit_key"] for r in rows}
