"""Cached feature vectors per (extractor, weights hash, sample) and stored 2-D projections."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from debias_core.store.records import dumps, loads, now

CHUNK = 900  # ids per `in (...)` query: under SQLite's older 999-parameter limit


def set_key(sample_ids: Sequence[int]) -> str:
    """Identifies a set of samples (order-free): a projection is reused while its set holds."""
    ids = np.unique(np.asarray(sample_ids, dtype=np.int64))
    return hashlib.sha256(ids.tobytes()).hexdigest()


@dataclass(frozen=True)
class Projection:
    """2-D coordinates of a set of samples in one feature space (ids sorted ascending)."""

    id: int
    features: str
    model_hash: str
    method: str
    params: dict
    set_key: str
    ids: np.ndarray  # (N,) int64
    xy: np.ndarray  # (N, 2) float32
    seconds: float | None = None
    job_id: int | None = None
    created_at: str = ""
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: dict) -> Projection:
        ids = np.frombuffer(row["ids"], dtype=np.int64)
        xy = np.frombuffer(row["xy"], dtype=np.float32).reshape(-1, 2)
        return cls(
            id=row["id"],
            features=row["features"],
            model_hash=row["model_hash"],
            method=row["method"],
            params=loads(row["params"], {}),
            set_key=row["set_key"],
            ids=ids,
            xy=xy,
            seconds=row.get("seconds"),
            job_id=row.get("job_id"),
            created_at=row["created_at"],
        )


class EmbeddingsMixin:
    # -- embeddings --------------------------------------------------------------------------
    def put_embeddings(
        self,
        features: str,
        model_hash: str,
        sample_ids: Sequence[int],
        vectors: np.ndarray,
        job_id: int | None = None,
        unit_key: str | None = None,
    ) -> int:
        """Store one batch of vectors (and mark the job unit done) in one transaction."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(sample_ids):
            raise ValueError(
                f"need one vector per sample, got {vectors.shape} for {len(sample_ids)}"
            )
        stamp = now()
        rows = [
            {
                "features": features,
                "model_hash": model_hash,
                "sample_id": int(sid),
                "dim": vectors.shape[1],
                "vector": vec.tobytes(),
                "created_at": stamp,
            }
            for sid, vec in zip(sample_ids, vectors, strict=True)
        ]
        with self.write() as db:
            db["embeddings"].insert_all(rows, replace=True)
            if job_id is not None and unit_key is not None:
                db["job_units"].insert(
                    {"job_id": job_id, "unit_key": unit_key, "done_at": stamp}, ignore=True
                )
        return len(rows)

    def embedded_ids(self, features: str, model_hash: str) -> np.ndarray:
        """Ids of the samples with a cached vector in this feature space, ascending."""
        rows = self.db.conn.execute(
            "select sample_id from embeddings where features = ? and model_hash = ?"
            " order by sample_id",
            [features, model_hash],
        ).fetchall()
        return np.asarray([r[0] for r in rows], dtype=np.int64)

    def get_embeddings(
        self, features: str, model_hash: str, sample_ids: Sequence[int]
    ) -> np.ndarray:
        """(N, D) float32 in the order of `sample_ids`; KeyError names the first one missing."""
        wanted = np.asarray(sample_ids, dtype=np.int64)
        if not len(wanted):
            return np.empty((0, 0), np.float32)
        found: dict[int, bytes] = {}
        unique = np.unique(wanted).tolist()
        for start in range(0, len(unique), CHUNK):
            chunk = unique[start : start + CHUNK]
            found.update(
                self.db.conn.execute(
                    "select sample_id, vector from embeddings where features = ?"
                    f" and model_hash = ? and sample_id in ({','.join('?' * len(chunk))})",
                    [features, model_hash, *chunk],
                ).fetchall()
            )
        missing = [s for s in unique if s not in found]
        if missing:
            raise KeyError(f"sample {missing[0]} has no {features} embedding yet (embed first)")
        return np.stack([np.frombuffer(found[int(s)], dtype=np.float32) for s in wanted])

    def all_sample_ids(self) -> np.ndarray:
        """Every sample id, ascending, as int64 (no row objects: 50,000 ids in ~10 ms)."""
        rows = self.db.conn.execute("select id from samples order by id").fetchall()
        return np.fromiter((r[0] for r in rows), np.int64, len(rows))

    def embedding_spaces(self) -> list[dict]:
        """Which (features, model hash) spaces have vectors, with counts; newest first."""
        return self.query(
            "select features, model_hash, count(*) as n, max(dim) as dim,"
            " max(created_at) as updated_at from embeddings group by 1, 2 order by 5 desc"
        )

    # -- projections -------------------------------------------------------------------------
    def save_projection(
        self,
        features: str,
        model_hash: str,
        method: str,
        params: dict,
        sample_ids: Sequence[int],
        xy: np.ndarray,
        seconds: float | None = None,
        job_id: int | None = None,
    ) -> int:
        """Store 2-D coordinates (rows in the order of `sample_ids`); returns the projection id."""
        ids = np.asarray(sample_ids, dtype=np.int64)
        xy = np.asarray(xy, dtype=np.float32)
        if xy.shape != (len(ids), 2):
            raise ValueError(f"need (N, 2) coordinates for {len(ids)} samples, got {xy.shape}")
        order = np.argsort(ids, kind="stable")
        row = {
            "features": features,
            "model_hash": model_hash,
            "method": method,
            "params": dumps(params),
            "set_key": set_key(ids),
            "n": len(ids),
            "ids": ids[order].tobytes(),
            "xy": np.ascontiguousarray(xy[order]).tobytes(),
            "seconds": seconds,
            "job_id": job_id,
            "created_at": now(),
        }
        with self.write() as db:
            return db["projections"].insert(row).last_pk

    def find_projection(
        self, features: str, model_hash: str, method: str, params: dict, key: str
    ) -> Projection | None:
        """The stored projection of exactly this set, space, method and parameters, if any."""
        rows = self.query(
            "select * from projections where features = ? and model_hash = ? and method = ?"
            " and set_key = ? and params = ? order by id desc limit 1",
            [features, model_hash, method, key, dumps(params)],
        )
        return Projection.from_row(rows[0]) if rows else None

    def latest_projection(self, features: str, method: str) -> Projection | None:
        """The newest projection of a feature space by a method (whatever set it covers)."""
        rows = self.query(
            "select * from projections where features = ? and method = ? order by id desc limit 1",
            [features, method],
        )
        return Projection.from_row(rows[0]) if rows else None

    def get_projection(self, projection_id: int) -> Projection:
        rows = self.query("select * from projections where id = ?", [int(projection_id)])
        if not rows:
            raise KeyError(f"no projection with id {projection_id}")
        return Projection.from_row(rows[0])
