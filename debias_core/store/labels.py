"""The label space of a multi-label project: names, supercategories, semantic siblings.

`label_names` holds one row per label (0 .. N-1, the values in `sample_labels`); a label's
supercategory groups it with its semantic siblings, the classes DecoupleGen's replacement edit
may put where a biased context was (COCO-Stuff: same COCO supercategory; other datasets: a table
a user fills, like the paper's Table 5 for PASCAL).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class LabelName:
    """One label of the label space. `kind` is 'thing' | 'stuff' where the dataset tells;
    `source_id` is the dataset's own id (a COCO category id)."""

    label: int
    name: str
    supercategory: str = ""
    kind: str = ""
    source_id: int | None = None


def _label_row(x: LabelName) -> dict:
    return {
        "label": int(x.label),
        "name": x.name,
        "supercategory": x.supercategory,
        "kind": x.kind,
        "source_id": x.source_id,
    }


class LabelsMixin:
    def set_label_names(self, labels: Iterable[LabelName | str], replace: bool = False) -> None:
        """Write the label space (a plain name is label k = its position, no supercategory).

        A project's label space is written once, at import; `replace=True` is a person editing
        rows of it (a supercategory, so that DecoupleGen's replacements draw other siblings).
        """
        rows = [
            _label_row(LabelName(k, x) if isinstance(x, str) else x) for k, x in enumerate(labels)
        ]
        with self.write() as db:
            if not replace and self.query("select 1 from label_names limit 1"):
                raise ValueError("this project's label names are already set")
            db["label_names"].insert_all(rows, replace=True)

    def label_rows(self) -> list[LabelName]:
        """The label space in label order, with its hierarchy (empty for a single-label project).
        `label_names()` gives the names alone."""
        rows = self.query("select * from label_names order by label")
        return [
            LabelName(
                label=r["label"],
                name=r["name"],
                supercategory=r["supercategory"] or "",
                kind=r["kind"] or "",
                source_id=r["source_id"],
            )
            for r in rows
        ]

    def semantic_siblings(self, label: int) -> list[int]:
        """The other labels of `label`'s supercategory, in label order; [] when it has none.

        An unknown label is a KeyError: a caller asking for the siblings of a label the project
        does not have is a bug, not an empty answer.
        """
        rows = self.query("select supercategory from label_names where label = ?", [int(label)])
        if not rows:
            raise KeyError(f"no label {label} in this project's label space")
        group = rows[0]["supercategory"]
        if not group:
            return []
        siblings = self.query(
            "select label from label_names where supercategory = ? and label != ? order by label",
            [group, int(label)],
        )
        return [r["label"] for r in siblings]


def semantic_siblings(store, label: int) -> list[int]:
    """The labels that share `label`'s supercategory (itself excluded), in label order."""
    return store.semantic_siblings(label)
