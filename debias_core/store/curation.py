"""Recipes, masks, scores and the append-only curation decisions."""

from __future__ import annotations

from collections.abc import Sequence

from debias_core.store import files
from debias_core.store.records import Recipe, dumps, loads, now

DECISIONS = ("accept", "reject", "undo")
STATUS_OF = {"accept": "accepted", "reject": "rejected"}


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
                            "created_at": stamp,
                        }
                    )
                    .last_pk
                )
                status = self._derive_status(sid)
                db["curation"].upsert(
                    {"sample_id": sid, "status": status, "decision_id": did}, pk="sample_id"
                )
                statuses.append(status)
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

    def _derive_status(self, sample_id: int) -> str:
        stack: list[str] = []
        for r in self.query(
            "select decision from decisions where sample_id = ? order by id", [sample_id]
        ):
            if r["decision"] == "undo":
                if stack:
                    stack.pop()
            else:
                stack.append(STATUS_OF[r["decision"]])
        return stack[-1] if stack else "pending"

    def status_of(self, sample_id: int) -> str:
        rows = self.query("select status from curation where sample_id = ?", [int(sample_id)])
        return rows[0]["status"] if rows else "pending"

    def decisions_for(self, sample_id: int) -> list[dict]:
        return self.query("select * from decisions where sample_id = ? order by id", [sample_id])

    def curation_counts(self) -> dict[str, int]:
        """Generated samples by curation status.

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
        return {"pending": total - accepted - rejected, "accepted": accepted, "rejected": rejected}
