"""Recipes, masks, scores and the append-only curation decisions.

Decisions come from people (reviewer = a name) or from verdict policies (reviewer
'policy:<name>', origin 'policy'; see store/verify.py). The current status is derived: a person's
latest decision (after undos) outranks any policy decision; without one, the latest policy
verdict counts ('accepted', 'rejected' or 'needs-review'); without either, 'pending'.
"""

from __future__ import annotations

from collections.abc import Sequence

from debias_core.store import files
from debias_core.store.records import Recipe, dumps, loads, now

DECISIONS = ("accept", "reject", "undo")
VERDICTS = ("accept", "reject", "needs-review")  # what a policy may decide
STATUS_OF = {"accept": "accepted", "reject": "rejected", "needs-review": "needs-review"}
POLICY_PREFIX = "policy:"


class CurationMixin:
    # -- recipes -----------------------------------------------------------------------------
    def get_recipe(self, recipe_id: int) -> Recipe:
        rows = self.query("select * from recipes where id = ?", [int(recipe_id)])
        if not rows:
            raise KeyError(f"no recipe with id {recipe_id}")
        return Recipe.from_row(rows[0])

    def recipe_methods(self) -> list[str]:
        return [r["method"] for r in self.query("select distinct method from recipes order by 1")]

    # -- masks -------------------------------------------------------------------------------
    def add_mask(self, sample_id: int | None, mask, kind: str, label: str = "", params=None) -> int:
        """Store a boolean mask image (content-addressed) and its row; returns the mask id."""
        import numpy as np

        rel, _ = files.put_image(self.root, np.asarray(mask, dtype=np.uint8) * 255)
        row = {
            "sample_id": sample_id,
            "kind": kind,
            "label": label,
            "segmenter": "dataset" if kind in ("exact", "object") else "unknown",
            "prompt": label,
            "path": rel,
            "params": dumps(params or {}),
            "created_at": now(),
        }
        with self.write() as db:
            return db["masks"].insert(row).last_pk

    def masks_for(self, sample_id: int) -> list[dict]:
        return self.query("select * from masks where sample_id = ? order by id", [sample_id])

    def get_mask(self, mask_id: int) -> dict:
        rows = self.query("select * from masks where id = ?", [int(mask_id)])
        if not rows:
            raise KeyError(f"no mask with id {mask_id}")
        return rows[0]

    # -- scores ------------------------------------------------------------------------------
    def add_scores(self, scorer: str, values: dict[int, float], run_id=None, details=None) -> None:
        """Record one scorer's values for many samples (a newer score supersedes an older one)."""
        rows = [
            {
                "sample_id": int(sid),
                "scorer": scorer,
                "run_id": run_id,
                "value": float(v),
                "details": dumps((details or {}).get(sid, {})),
                "created_at": now(),
            }
            for sid, v in values.items()
        ]
        with self.write() as db:
            db["scores"].insert_all(rows)

    def scores_for(self, sample_id: int) -> dict[str, dict]:
        """Latest score per scorer for one sample."""
        rows = self.query("select * from scores where sample_id = ? order by id", [int(sample_id)])
        return {
            r["scorer"]: {
                "value": r["value"],
                "run_id": r["run_id"],
                "details": loads(r["details"], {}),
            }
            for r in rows
        }

    # -- decisions ---------------------------------------------------------------------------
    def decide(
        self, sample_ids: Sequence[int], decision: str, reviewer: str, reason: str = ""
    ) -> list[str]:
        """Append decisions and update the derived state; returns each sample's new status.

        'undo' reverts a sample to the status before its latest non-undone decision.
        """
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, got {decision!r}")
        if not reviewer:
            raise ValueError("a decision needs a reviewer name")
        if reviewer.startswith(POLICY_PREFIX):
            raise ValueError(f"reviewer names starting with {POLICY_PREFIX!r} are for policies")
        return self._append_decisions(sample_ids, decision, reviewer, reason, "person")

    def _append_decisions(self, sample_ids, decision, reviewer, reason, origin) -> list[str]:
        """Insert one decision row per sample and refresh each sample's derived status."""
        ids = [int(i) for i in sample_ids]
        with self.write() as db:
            self._check_exist(ids)
            stamp = now()
            statuses = []
            for sid in ids:
                did = (
                    db["decisions"]
                    .insert(
                        {
                            "sample_id": sid,
                            "decision": decision,
                            "reviewer": reviewer,
                            "reason": reason,
                            "origin": origin,
                            "created_at": stamp,
                        }
                    )
                    .last_pk
                )
                row = self._derive_status(sid)
                db["curation"].upsert(row | {"sample_id": sid, "decision_id": did}, pk="sample_id")
                statuses.append(row["status"])
        return statuses

    def _check_exist(self, ids: list[int]) -> None:
        found: set[int] = set()
        for start in range(0, len(ids), 900):  # chunks: a lasso can hold 50,000 ids
            chunk = ids[start : start + 900]
            marks = ",".join("?" * len(chunk))
            rows = self.db.conn.execute(f"select id from samples where id in ({marks})", chunk)
            found.update(r[0] for r in rows)
        missing = [i for i in ids if i not in found]
        if missing:
            raise KeyError(f"no sample with id {missing[0]}")

    def _derive_status(self, sample_id: int) -> dict[str, str | None]:
        """{status, person_status, policy_status}: a person's word outranks a policy's.

        A person's 'undo' reverts that sample's latest non-undone decision by a person; policy
        verdicts are never undone, a later one supersedes an earlier one.
        """
        stack: list[str] = []
        policy = None
        for r in self.query(
            "select decision, coalesce(origin, 'person') as origin from decisions"
            " where sample_id = ? order by id",
            [sample_id],
        ):
            if r["origin"] == "policy":
                policy = STATUS_OF[r["decision"]]
            elif r["decision"] == "undo":
                if stack:
                    stack.pop()
            else:
                stack.append(STATUS_OF[r["decision"]])
        person = stack[-1] if stack else None
        status = person or policy or "pending"
        return {"status": status, "person_status": person, "policy_status": policy}

    def status_of(self, sample_id: int) -> str:
        rows = self.query("select status from curation where sample_id = ?", [int(sample_id)])
        return rows[0]["status"] if rows else "pending"

    def decisions_for(self, sample_id: int) -> list[dict]:
        return self.query("select * from decisions where sample_id = ? order by id", [sample_id])

    def curation_counts(self) -> dict[str, int]:
        """Generated samples by curation status. 'pending' is every sample without a firm
        accept / reject; 'needs-review' (a policy asked for a person) is a part of it.

        Runs after every decision, so it reads only the decided samples (curation rows first:
        CROSS JOIN fixes that order) and derives 'pending' from an index-only count; joining
        every sample to its curation row cost 10 ms at 50,000 samples, this ~1 ms.
        """
        total = self.query("select count(*) as n from samples where source = 'generated'")[0]["n"]
        rows = self.query(
            "select c.status, count(*) as n from curation c cross join samples s"
            " on s.id = c.sample_id where s.source = 'generated' group by 1"
        )
        decided = {r["status"]: r["n"] for r in rows}
        accepted, rejected = decided.get("accepted", 0), decided.get("rejected", 0)
        return {
            "pending": total - accepted - rejected,
            "accepted": accepted,
            "rejected": rejected,
            "needs-review": decided.get("needs-review", 0),
        }
