"""Verification state: masks with their source, scores by scorer, and policy decisions.

A policy's verdicts are ordinary append-only decision rows with reviewer 'policy:<name>' and
origin 'policy'; the derived status lets a person's decision outrank them (store/curation.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from debias_core.store import files
from debias_core.store.curation import POLICY_PREFIX, VERDICTS
from debias_core.store.records import dumps, now


@dataclass(frozen=True)
class PolicyVerdict:
    """One policy decision for one sample."""

    decision: str  # one of VERDICTS
    reason: str = ""


@dataclass(frozen=True)
class ScoreBatch:
    """One scorer's values for several samples (details per sample are JSON-able dicts)."""

    scorer: str
    values: Mapping[int, float]
    details: Mapping[int, dict]
    run_id: int | None = None


def policy_reviewer(policy: str) -> str:
    return f"{POLICY_PREFIX}{policy}"


class VerifyMixin:
    # -- masks -------------------------------------------------------------------------------
    def add_segment_mask(
        self,
        sample_id: int,
        mask,
        *,
        segmenter: str,
        prompt: str,
        model_hash: str | None,
        params: dict | None = None,
        kind: str = "text-prompted",
    ) -> int:
        """Store a boolean mask with its source (segmenter, prompt, model hash); returns its id."""
        rel, _ = files.put_image(self.root, np.asarray(mask, dtype=np.uint8) * 255)
        row = {
            "sample_id": int(sample_id),
            "kind": kind,
            "label": prompt,
            "path": rel,
            "params": dumps(params or {}),
            "segmenter": segmenter,
            "prompt": prompt,
            "model_hash": model_hash,
            "created_at": now(),
        }
        with self.write() as db:
            return db["masks"].insert(row).last_pk

    def find_mask(
        self, sample_id: int, segmenter: str | None = None, prompt: str | None = None
    ) -> dict | None:
        """The newest mask of a sample from `segmenter` (and `prompt`), or None."""
        sql, params = "select * from masks where sample_id = ?", [int(sample_id)]
        if segmenter is not None:
            sql += " and coalesce(segmenter, 'dataset') = ?"
            params.append(segmenter)
        if prompt is not None:
            sql += " and prompt = ?"
            params.append(prompt)
        rows = self.query(sql + " order by id desc limit 1", params)
        return rows[0] if rows else None

    def mask_pixels(self, mask_id: int) -> np.ndarray:
        """A stored mask as an (H, W) bool array."""
        from PIL import Image

        with Image.open(self.root / self.get_mask(mask_id)["path"]) as im:
            return np.asarray(im.convert("L")) > 127

    # -- scores + policy verdicts, written together ---------------------------------------------
    def record_verification(
        self,
        scores: Sequence[ScoreBatch],
        policy: str | None,
        verdicts: Mapping[int, PolicyVerdict],
        job_id: int | None = None,
        unit_key: str | None = None,
    ) -> None:
        """Scores, a policy's decisions and the job unit's done mark in one transaction."""
        bad = sorted({v.decision for v in verdicts.values()} - set(VERDICTS))
        if bad:
            raise ValueError(f"a policy decides one of {VERDICTS}, got {bad}")
        with self.write() as db:
            for batch in scores:
                self.add_scores(batch.scorer, dict(batch.values), batch.run_id, batch.details)
            for sid, verdict in verdicts.items():
                self._append_decisions(
                    [sid], verdict.decision, policy_reviewer(policy), verdict.reason, "policy"
                )
            if job_id is not None and unit_key is not None:
                db["job_units"].insert(
                    {"job_id": job_id, "unit_key": unit_key, "done_at": now()}, ignore=True
                )

    def latest_scores(self, sample_ids: Sequence[int], scorer: str) -> dict[int, dict]:
        """{sample id: {value, run_id, details}} of one scorer's newest score per sample."""
        from debias_core.store.records import loads

        ids = [int(i) for i in sample_ids]
        marks = ",".join("?" * len(ids)) or "null"
        rows = self.query(
            f"select * from scores where scorer = ? and sample_id in ({marks}) order by id",
            [scorer, *ids],
        )
        return {
            r["sample_id"]: {
                "value": r["value"],
                "run_id": r["run_id"],
                "details": loads(r["details"], {}),
            }
            for r in rows
        }

    # -- agreement between people and policies -------------------------------------------------
    def policy_names(self) -> list[str]:
        rows = self.query(
            "select distinct reviewer from decisions where origin = 'policy' order by 1"
        )
        return [r["reviewer"][len(POLICY_PREFIX) :] for r in rows]

    def agreement_pairs(self, policy: str) -> list[tuple[str, str]]:
        """(person's current status, the policy's latest decision) for every sample both decided.

        The person's side is 'accepted' / 'rejected' after undos; the policy's is its own latest
        verdict (accept / reject / needs-review), whatever other policies said.
        """
        rows = self.query(
            "select c.person_status as person, d.decision as verdict from decisions d"
            " join curation c on c.sample_id = d.sample_id"
            " where d.id = (select max(id) from decisions x"
            "   where x.sample_id = d.sample_id and x.reviewer = ?)"
            " and c.person_status in ('accepted', 'rejected') order by d.sample_id",
            [policy_reviewer(policy)],
        )
        return [(r["person"], r["verdict"]) for r in rows]
