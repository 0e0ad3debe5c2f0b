"""Label sets of multi-label projects as Python sets (the co-occurrence counts and DecoupleGen's
source choice read them), beside `multilabel.py`'s names, matrices and pairs. Generated samples
record the labels they were drawn to show (`add_generated_unit`), so statistics of the augmented
set read the same table as the original's."""

from __future__ import annotations

from collections.abc import Sequence


class LabelSetsMixin:
    def label_name_map(self) -> dict[int, str]:
        """label id -> name ({} for a single-label project)."""
        return dict(enumerate(self.label_names()))

    def label_sets(self, sample_ids: Sequence[int] | None = None) -> dict[int, set[int]]:
        """sample id -> its label set (samples without labels are absent)."""
        rows = self.query("select sample_id, label from sample_labels order by sample_id, label")
        wanted = None if sample_ids is None else {int(i) for i in sample_ids}
        out: dict[int, set[int]] = {}
        for row in rows:
            if wanted is None or row["sample_id"] in wanted:
                out.setdefault(row["sample_id"], set()).add(row["label"])
        return out
