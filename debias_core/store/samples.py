"""Samples (real and generated) and group statistics."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from debias_core.store import files
from debias_core.store.records import GeneratedImage, Sample, dumps, now


@dataclass(frozen=True)
class SampleFilter:
    """Which samples to list; None means any. `status` is the curation state of generated ones.

    `verdict` is the latest policy decision ('accept' | 'reject' | ... or 'none' for samples no
    policy decided); `scorer` with `score_min` / `score_max` keeps samples whose latest score of
    that scorer lies in the range (bounds included). `disputed` True keeps the samples a judge
    reads in a group other than their recorded one (its newest reading), False the others.
    `set_aside` True keeps the disputed samples no person accepted (what stats, training and the
    comparison bench leave out: a person's accept outranks a judge's reading), False the others.
    """

    source: str | None = None
    split: str | None = None
    y: int | None = None
    a: int | None = None
    # 'pending' (no firm decision, so 'needs-review' included) | 'needs-review' | 'accepted' |
    # 'rejected'
    status: str | None = None
    method: str | None = None
    job_id: int | None = None
    ids: Sequence[int] | None = None
    tag: str | None = None
    verdict: str | None = None
    scorer: str | None = None
    score_min: float | None = None
    score_max: float | None = None
    disputed: bool | None = None
    set_aside: bool | None = None

    def where(self) -> tuple[str, list]:
        clauses, params = [], []
        for column in ("source", "split", "y", "a", "job_id"):
            value = getattr(self, column)
            if value is not None:
                clauses.append(f"s.{column} = ?")
                params.append(value)
        if self.status == "pending":
            clauses.append("coalesce(c.status, 'pending') in ('pending', 'needs-review')")
        elif self.status is not None:
            clauses.append("coalesce(c.status, 'pending') = ?")
            params.append(self.status)
        if self.method is not None:
            clauses.append("r.method = ?")
            params.append(self.method)
        if self.ids is not None:
            clauses.append(f"s.id in ({','.join('?' * len(self.ids)) or 'null'})")
            params.extend(int(i) for i in self.ids)
        if self.tag is not None:
            clauses.append("s.id in (select sample_id from sample_tags where tag = ?)")
            params.append(self.tag)
        if self.verdict is not None:
            clauses.append(f"coalesce({VERDICT_SQL}, 'none') = ?")
            params.append(self.verdict)
        if self.scorer is not None:
            low = -math.inf if self.score_min is None else float(self.score_min)
            high = math.inf if self.score_max is None else float(self.score_max)
            clauses.append(f"{SCORE_SQL} between ? and ?")
            params.extend([self.scorer, low, high])
        elif self.score_min is not None or self.score_max is not None:
            raise ValueError("a score range needs a scorer")
        if self.disputed is not None:
            clauses.append(f"{'' if self.disputed else 'not '}{DISPUTED_SQL}")
        if self.set_aside is not None:
            clauses.append(f"{'' if self.set_aside else 'not '}{SET_ASIDE_SQL}")
        return (" where " + " and ".join(clauses)) if clauses else "", params


# A policy's decisions are recorded by reviewer 'policy:<name>'; the latest one is the verdict.
VERDICT_SQL = (
    "(select d.decision from decisions d where d.sample_id = s.id"
    " and d.reviewer like 'policy:%' order by d.id desc limit 1)"
)
# The latest value of one scorer (a newer score supersedes an older one).
SCORE_SQL = (
    "(select sc.value from scores sc where sc.sample_id = s.id and sc.scorer = ?"
    " order by sc.id desc limit 1)"
)

# Some judge's newest reading of the sample disagrees with its recorded group.
DISPUTED_SQL = (
    "exists (select 1 from read_groups g where g.sample_id = s.id and g.agrees = 0"
    " and g.id = (select max(x.id) from read_groups x"
    "   where x.sample_id = s.id and x.judge = g.judge))"
)
# A person's accept (their latest decision after undos) outranks a judge's reading: the sample
# counts in its recorded group again.
PERSON_ACCEPTED_SQL = (
    "exists (select 1 from curation pc where pc.sample_id = s.id and pc.person_status = 'accepted')"
)
SET_ASIDE_SQL = f"({DISPUTED_SQL} and not {PERSON_ACCEPTED_SQL})"


def _dataset_mask(row: dict, kind: str, label: str, path: str) -> dict:
    """A masks row for a mask the dataset ships (segmenter 'dataset'; prompt = what it is of)."""
    return {
        "sample_id": row["id"],
        "kind": kind,
        "label": label,
        "segmenter": "dataset",
        "prompt": label,
        "path": path,
        "params": "{}",
        "created_at": row["created_at"],
    }


ANY_SAMPLE = SampleFilter()
_FROM = (
    " from samples s left join curation c on c.sample_id = s.id"
    " left join recipes r on r.id = s.recipe_id"
)


class SamplesMixin:
    # -- writes ------------------------------------------------------------------------------
    def add_real_samples(self, records: Iterable, progress=None) -> int:
        """Copy real images into the store and insert their rows, all in one transaction."""
        rows, metas, objects = [], [], []
        records = list(records)
        for k, rec in enumerate(records):
            rel, digest = files.put_file(self.root, rec.path)
            meta = dict(rec.meta, original_path=str(rec.path))
            if rec.mask_path is not None:  # the exact mask, content-addressed like the image
                meta["mask_path"], _ = files.put_file(self.root, rec.mask_path)
            rows.append(self._sample_row(rel, digest, rec.y, rec.a, rec.split, "real", meta))
            metas.append(meta)
            objects.append([self._object_mask_row(m) for m in rec.object_masks])
            if progress and k % 500 == 0:
                progress(k / max(len(records), 1), f"copied {k}/{len(records)} images")
        with self.write() as db:
            start = self._next_id(db)
            for offset, row in enumerate(rows):
                row["id"] = start + offset
            db["samples"].insert_all(rows)
            labels = [
                {"sample_id": row["id"], "label": int(label)}
                for row, rec in zip(rows, records, strict=True)
                for label in rec.labels
            ]
            if labels:
                db["sample_labels"].insert_all(labels)
            masks = [
                _dataset_mask(row, "exact", "foreground", row_meta["mask_path"])
                for row, row_meta in zip(rows, metas, strict=True)
                if "mask_path" in row_meta
            ]
            masks += [
                mask | {"sample_id": row["id"], "created_at": row["created_at"]}
                for row, sample_masks in zip(rows, objects, strict=True)
                for mask in sample_masks
            ]
            if masks:
                db["masks"].insert_all(masks)
        return len(rows)

    def _object_mask_row(self, mask) -> dict:
        """A dataset's region mask (kind 'object', segmenter 'dataset'), its file written."""
        path, _ = files.put_image(self.root, mask.pixels().astype(np.uint8) * 255)
        return {
            "kind": "object",
            "label": mask.name,
            "segmenter": "dataset",
            "prompt": mask.name,
            "path": path,
            "params": dumps({"label": mask.label, **mask.params()}),
        }

    def add_generated_unit(
        self, job_id: int | None, unit_key: str | None, images: Sequence[GeneratedImage]
    ) -> list[int]:
        """Insert one work unit's images + recipes and mark the unit done, atomically.

        A unit already done is skipped, so a resumed job never duplicates samples.
        """
        blobs = [files.put_image(self.root, g.image) for g in images]  # files first: idempotent
        with self.write() as db:
            if job_id is not None and unit_key is not None and self.unit_done(job_id, unit_key):
                return []
            ids = []
            for (rel, digest), g in zip(blobs, images, strict=True):
                recipe_id = db["recipes"].insert(g.recipe.to_row() | {"created_at": now()}).last_pk
                row = self._sample_row(rel, digest, g.y, g.a, "train", "generated", g.meta)
                row |= {
                    "parent_id": g.parent_id,
                    "recipe_id": recipe_id,
                    "job_id": job_id,
                    "unit_key": unit_key,
                }
                ids.append(db["samples"].insert(row).last_pk)
                if g.labels:
                    db["sample_labels"].insert_all(
                        {"sample_id": ids[-1], "label": int(label)} for label in set(g.labels)
                    )
            if job_id is not None and unit_key is not None:
                db["job_units"].insert({"job_id": job_id, "unit_key": unit_key, "done_at": now()})
        return ids

    @staticmethod
    def _sample_row(rel, digest, y, a, split, source, meta) -> dict:
        return {
            "path": rel,
            "sha256": digest,
            "y": int(y),
            "a": int(a),
            "split": split,
            "source": source,
            "meta": dumps(meta),
            "created_at": now(),
        }

    @staticmethod
    def _next_id(db) -> int:
        return (next(db.query("select coalesce(max(id), 0) as m from samples"))["m"]) + 1

    # -- reads -------------------------------------------------------------------------------
    def get_sample(self, sample_id: int) -> Sample:
        rows = self.query("select * from samples where id = ?", [int(sample_id)])
        if not rows:
            raise KeyError(f"no sample with id {sample_id}")
        return Sample.from_row(rows[0])

    def list_samples(
        self, where: SampleFilter = ANY_SAMPLE, limit: int | None = None, offset: int = 0
    ) -> list[Sample]:
        sql, params = where.where()
        page = f" limit {int(limit)} offset {int(offset)}" if limit is not None else ""
        rows = self.query(f"select s.*{_FROM}{sql} order by s.id{page}", params)
        return [Sample.from_row(r) for r in rows]

    def sample_ids(self, where: SampleFilter = ANY_SAMPLE) -> list[int]:
        """Only the ids, in id order: a 50,000-sample review queue without 50,000 rows parsed."""
        sql, params = where.where()
        return [r["id"] for r in self.query(f"select s.id{_FROM}{sql} order by s.id", params)]

    def count_samples(self, where: SampleFilter = ANY_SAMPLE) -> int:
        sql, params = where.where()
        return self.query(f"select count(*) as n{_FROM}{sql}", params)[0]["n"]

    def sample_path(self, sample: Sample):
        return self.resolve(sample.path, f"sample {sample.id}")

    def sample_image(self, sample_id: int):
        """The sample's pixels as an 8-bit RGB PIL image (16-bit files scaled, not clipped)."""
        from debias_core.store.images import open_rgb

        return open_rgb(self.sample_path(self.get_sample(sample_id)))

    def labels_of(self, sample_id: int) -> list[int]:
        rows = self.query("select label from sample_labels where sample_id = ?", [sample_id])
        return [r["label"] for r in rows]

    # -- groups ------------------------------------------------------------------------------
    def aligned_attrs(self) -> dict[int, int]:
        """Each class's majority attribute in the real train split (its bias-aligned context)."""
        rows = self.query(
            "select y, a, count(*) as n from samples where source = 'real' and split = 'train'"
            " group by y, a"
        )
        best: dict[int, tuple[int, int]] = {}
        for r in rows:
            if r["y"] not in best or r["n"] > best[r["y"]][1]:
                best[r["y"]] = (r["a"], r["n"])
        return {y: a for y, (a, _) in best.items()}

    def group_counts(self) -> list[dict]:
        """Counts per (y, a): real per split, and generated by curation status; a generated
        sample a judge reads in another group is counted apart, as `generated_set_aside` of its
        recorded group, and in no status, unless a person accepted it."""
        rows = self.query(
            "select s.y, s.a, s.source, s.split, coalesce(c.status, 'pending') as status,"
            f" {SET_ASIDE_SQL} as disputed,"
            " count(*) as n from samples s left join curation c on c.sample_id = s.id"
            " group by s.y, s.a, s.source, s.split, status, disputed"
        )
        counts: dict[tuple[int, int], Counter] = {}
        for r in rows:
            if r["source"] != "real" and r["disputed"]:
                counts.setdefault((r["y"], r["a"]), Counter())["generated_set_aside"] += r["n"]
                continue
            key = f"real_{r['split']}" if r["source"] == "real" else f"generated_{r['status']}"
            group = counts.setdefault((r["y"], r["a"]), Counter())
            group[key] += r["n"]
            if r["status"] == "needs-review":  # not firmly decided: pending too
                group["generated_pending"] += r["n"]
        return [{"y": y, "a": a, **c} for (y, a), c in sorted(counts.items())]
