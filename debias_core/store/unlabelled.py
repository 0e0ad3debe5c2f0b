"""Reads for methods that must not see group labels (DiffInject's mining and sources).

These queries never select the attribute column `a`: a method built on them cannot use a group
label even by accident.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LabelledSample:
    """A sample as a label-only method sees it: id, image path, class label."""

    id: int
    path: str
    y: int


class UnlabelledMixin:
    def class_labelled(self, source: str = "real", split: str = "train") -> list[LabelledSample]:
        """Every sample of a source and split with its class label and nothing else, by id."""
        rows = self.query(
            "select id, path, y from samples where source = ? and split = ? order by id",
            [source, split],
        )
        return [LabelledSample(r["id"], r["path"], r["y"]) for r in rows]

    def labelled_by_id(self, sample_ids: Sequence[int]) -> list[LabelledSample]:
        """The given samples (id, path, class label), in the order asked; unknown ids raise."""
        ids = [int(i) for i in sample_ids]
        marks = ",".join("?" * len(ids)) or "null"
        rows = self.query(f"select id, path, y from samples where id in ({marks})", ids)
        found = {r["id"]: LabelledSample(r["id"], r["path"], r["y"]) for r in rows}
        missing = [i for i in ids if i not in found]
        if missing:
            raise KeyError(f"no sample with id {missing[0]}")
        return [found[i] for i in ids]
