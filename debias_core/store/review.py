"""Reads the Review screen needs: scorer names, statuses of a page, each verdict's author.

Read-only verbs; decisions and tags are written by CurationMixin and TagsMixin.
"""

from __future__ import annotations

from collections.abc import Sequence

from debias_core.store.curation import POLICY_PREFIX


class ReviewMixin:
    def scorer_names(self) -> list[str]:
        """Every scorer with at least one score in the project, by name."""
        return [r["scorer"] for r in self.query("select distinct scorer from scores order by 1")]

    def statuses_of(self, sample_ids: Sequence[int]) -> dict[int, str]:
        """Curation status of each given sample ('pending' when undecided)."""
        ids = [int(i) for i in sample_ids]
        out = dict.fromkeys(ids, "pending")
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            rows = self.db.conn.execute(
                f"select sample_id, status from curation where sample_id in"
                f" ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            out.update(dict(rows))
        return out

    def verdicts_of(self, sample_id: int) -> dict:
        """{status, person: status or None, policies: [{policy, decision, reason}] (latest each)}.

        A person's status (after undos) outranks every policy's (store/curation.py).
        """
        row = self.query(
            "select status, person_status, policy_status from curation where sample_id = ?",
            [int(sample_id)],
        )
        latest: dict[str, dict] = {}
        for d in self.query(
            "select reviewer, decision, reason from decisions where sample_id = ?"
            " and origin = 'policy' order by id",
            [int(sample_id)],
        ):
            name = d["reviewer"].removeprefix(POLICY_PREFIX)
            latest[name] = {"policy": name, "decision": d["decision"], "reason": d["reason"]}
        return {
            "status": row[0]["status"] if row else "pending",
            "person": row[0]["person_status"] if row else None,
            "policies": list(latest.values()),
        }
