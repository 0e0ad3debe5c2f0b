"""Verification state: masks with their source, scores by scorer, and policy decisions.

A policy's verdicts are ordinary append-only decision rows with reviewer 'policy:<name>' and
origin 'policy'; the derived status lets a person's decision outrank them (store/curation.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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
class MaskRow:
    """A mask to store, with its source: which segmenter, which prompt, which model weights."""

    sample_id: int
    mask: np.ndarray  # (H, W) bool
    segmenter: str
    prompt: str
    model_hash: str | None = None
    params: dict = field(default_factory=dict)
    kind: str = "text-prompted"


@dataclass(frozen=True)
class ReadGroup:
    """The group a judge reads in a sample: class and context indices (None: not read, or none
    of the project's), and whether that is the sample's recorded group."""

    y: int | None
    a: int | None
    agrees: bool


@dataclass(frozen=True)
class ScoreBatch:
    """One scorer's values for several samples (details per sample are JSON-able dicts), any
    masks it made on the way, and the groups it reads, where it is a judge of what an image
    shows (all stored in the same transaction as the scores)."""

    scorer: str
    values: Mapping[int, float]
    details: Mapping[int, dict]
    run_id: int | None = None
    masks: Sequence[MaskRow] = ()
    read_groups: Mapping[int, ReadGroup] = field(default_factory=dict)


def policy_reviewer(policy: str) -> str:
    return f"{POLICY_PREFIX}{policy}"


class VerifyMixin:
    # -- masks -------------------------------------------------------------------------------
    def record_masks(
        self, rows: Sequence[MaskRow], job_id: int | None = None, unit_key: str | None = None
    ) -> list[int]:
        """Store masks with their source (files first: content-addressed, so a redo is harmless),
        and mark the job unit done in the same transaction; returns the mask ids."""
        paths = [
            files.put_image(self.root, np.asarray(r.mask, dtype=np.uint8) * 255)[0] for r in rows
        ]
        with self.write() as db:
            ids = [
                db["masks"]
                .insert(
                    {
                        "sample_id": int(r.sample_id),
                        "kind": r.kind,
                        "label": r.prompt,
                        "path": path,
                        "params": dumps(r.params),
                        "segmenter": r.segmenter,
                        "prompt": r.prompt,
                        "model_hash": r.model_hash,
                        "created_at": now(),
                    }
                )
                .last_pk
                for r, path in zip(rows, paths, strict=True)
            ]
            self._mark_unit(db, job_id, unit_key)
        return ids

    @staticmethod
    def _mark_unit(db, job_id: int | None, unit_key: str | None) -> None:
        if job_id is not None and unit_key is not None:
            db["job_units"].insert(
                {"job_id": job_id, "unit_key": unit_key, "done_at": now()}, ignore=True
            )

    def find_mask(
        self, sample_id: int, segmenter: str | None = None, prompt: str | None = None
    ) -> dict | None:
        """The newest mask of a sample from `segmenter` (and `prompt`), or None."""
        sql, params = "select * from masks where sample_id = ?", [int(sample_id)]
        if segmenter is not None:
            sql += " and segmenter = ?"
            params.append(segmenter)
        if prompt is not None:
            sql += " and prompt = ?"
            params.append(prompt)
        rows = self.query(sql + " order by id desc limit 1", params)
        return rows[0] if rows else None

    def generated_with_source_masks(self, segmenter: str) -> int:
        """Generated samples whose recipe names a mask or whose source has one from `segmenter`."""
        rows = self.query(
            "select count(*) as n from samples s left join recipes r on r.id = s.recipe_id"
            " where s.source = 'generated' and (r.mask_id is not null or exists ("
            "   select 1 from masks m where m.sample_id = s.parent_id and m.segmenter = ?))",
            [segmenter],
        )
        return rows[0]["n"]

    def mask_pixels(self, mask_id: int) -> np.ndarray:
        """A stored mask as an (H, W) bool array."""
        from PIL import Image

        with Image.open(self.resolve(self.get_mask(mask_id)["path"], f"mask {mask_id}")) as im:
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
        """Scores (and their masks), a policy's decisions and the job unit's done mark, in one
        transaction: a resumed job neither loses nor repeats a unit's verdicts."""
        bad = sorted({v.decision for v in verdicts.values()} - set(VERDICTS))
        if bad:
            raise ValueError(f"a policy decides one of {VERDICTS}, got {bad}")
        with self.write() as db:
            for batch in scores:
                self.add_scores(batch.scorer, dict(batch.values), batch.run_id, batch.details)
                self.record_masks(batch.masks)
                self._record_read_groups(db, batch.scorer, batch.read_groups)
            for sid, verdict in verdicts.items():
                self.decide_as_policy([sid], verdict.decision, policy, verdict.reason)
            self._mark_unit(db, job_id, unit_key)

    @staticmethod
    def _record_read_groups(db, judge: str, groups: Mapping[int, ReadGroup]) -> None:
        rows = [
            {
                "sample_id": int(sid),
                "judge": judge,
                "y": g.y,
                "a": g.a,
                "agrees": int(g.agrees),
                "created_at": now(),
            }
            for sid, g in groups.items()
        ]
        if rows:
            db["read_groups"].insert_all(rows)

    def read_groups(self, sample_ids: Sequence[int]) -> dict[int, dict[str, dict]]:
        """{sample id: {judge: {y, a, agrees}}}: each judge's newest reading of each sample."""
        ids = [int(i) for i in sample_ids]
        marks = ",".join("?" * len(ids)) or "null"
        rows = self.query(
            f"select * from read_groups where sample_id in ({marks}) order by id", ids
        )
        out: dict[int, dict[str, dict]] = {}
        for r in rows:
            out.setdefault(r["sample_id"], {})[r["judge"]] = {
                "y": r["y"],
                "a": r["a"],
                "agrees": bool(r["agrees"]),
            }
        return out

    def decide_as_policy(
        self, sample_ids: Sequence[int], decision: str, policy: str, reason: str = ""
    ) -> list[str]:
        """Append a policy's verdicts (reviewer 'policy:<name>'); people's outrank them."""
        if decision not in VERDICTS:
            raise ValueError(f"a policy decides one of {VERDICTS}, got {decision!r}")
        return self._append_decisions(
            sample_ids, decision, policy_reviewer(policy), reason, "policy"
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
