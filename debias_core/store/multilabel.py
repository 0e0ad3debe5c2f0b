"""Multi-label data (COCO-Stuff style): each sample's label set, label names, biased pairs.

Single-label projects have no label names; `is_multilabel()` tells the two apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from debias_core.store.records import now


@dataclass(frozen=True)
class BiasedPair:
    """A biased object `b` and the context `c` it leans on (label indices), with its score."""

    b: int
    c: int
    bias_score: float | None = None
    rank: int | None = None
    run_id: int | None = None
    n_cooccur: int | None = None
    n_exclusive: int | None = None


class MultiLabelMixin:
    # -- label names -------------------------------------------------------------------------
    def set_label_names(self, names: Sequence[str]) -> None:
        """Write the label space once (index = label); a project's label space never changes."""
        with self.write() as db:
            if self.query("select 1 from label_names limit 1"):
                raise ValueError("this project's label names are already set")
            db["label_names"].insert_all({"label": k, "name": n} for k, n in enumerate(names))

    def label_names(self) -> list[str]:
        return [r["name"] for r in self.query("select name from label_names order by label")]

    def is_multilabel(self) -> bool:
        return bool(self.query("select 1 from label_names limit 1"))

    def label_index(self, name: str) -> int:
        rows = self.query("select label from label_names where name = ?", [name])
        if not rows:
            raise KeyError(f"no label named {name!r}; labels: {self.label_names()}")
        return rows[0]["label"]

    # -- label sets --------------------------------------------------------------------------
    def label_matrix(self, sample_ids: Sequence[int]) -> np.ndarray:
        """(N, L) 0/1 targets of the given samples, in the order given (L = number of labels)."""
        ids = [int(i) for i in sample_ids]
        out = np.zeros((len(ids), len(self.label_names())), np.float32)
        if not ids:
            return out
        row_of = {sid: k for k, sid in enumerate(ids)}
        for chunk in range(0, len(ids), 900):  # SQLite's bound-parameter limit
            part = ids[chunk : chunk + 900]
            marks = ",".join("?" * len(part))
            for r in self.query(
                f"select sample_id, label from sample_labels where sample_id in ({marks})", part
            ):
                out[row_of[r["sample_id"]], r["label"]] = 1.0
        return out

    # -- biased pairs ------------------------------------------------------------------------
    def biased_pairs(self) -> list[BiasedPair]:
        """The measured biased pairs, highest bias score first (empty until measured)."""
        rows = self.query("select * from biased_pairs order by bias_score desc, b, c")
        return [
            BiasedPair(
                r["b"],
                r["c"],
                r["bias_score"],
                r.get("rank"),
                r.get("run_id"),
                r.get("n_cooccur"),
                r.get("n_exclusive"),
            )
            for r in rows
        ]

    def replace_biased_pairs(self, pairs: Sequence[BiasedPair]) -> None:
        """Store a new measurement's pairs in place of the old ones, in one transaction."""
        n_labels = len(self.label_names())
        for p in pairs:
            if not (0 <= p.b < n_labels and 0 <= p.c < n_labels) or p.b == p.c:
                raise ValueError(f"pair ({p.b}, {p.c}) is not two labels of this project")
        stamp = now()
        with self.write() as db:
            db.execute("delete from biased_pairs")
            db["biased_pairs"].insert_all(
                {
                    "b": p.b,
                    "c": p.c,
                    "bias_score": p.bias_score,
                    "rank": k + 1 if p.rank is None else p.rank,
                    "run_id": p.run_id,
                    "n_cooccur": p.n_cooccur,
                    "n_exclusive": p.n_exclusive,
                    "created_at": stamp,
                }
                for k, p in enumerate(pairs)
            )

    def designed_pairs(self) -> list[BiasedPair]:
        """The pairs a synthetic dataset was built with (`dataset_params.designed_pairs`)."""
        params = self.meta().get("dataset_params") or {}
        return [BiasedPair(int(b), int(c)) for b, c in params.get("designed_pairs", [])]

    def pairs_for_study(self) -> list[BiasedPair]:
        """The measured pairs, or the designed ones while none are measured yet."""
        return self.biased_pairs() or self.designed_pairs()

    # -- region masks ------------------------------------------------------------------------
    def region_mask(self, sample_id: int, name: str) -> dict | None:
        """The dataset's exact mask of one named region of a sample (a label name, or
        'background'), or None."""
        rows = self.query(
            "select * from masks where sample_id = ? and segmenter = 'dataset' and kind = 'object'"
            " and label = ? order by id desc limit 1",
            [int(sample_id), name],
        )
        return rows[0] if rows else None
