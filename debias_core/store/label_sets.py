"""Label sets of multi-label projects (COCO-Stuff style): names, each sample's labels, biased
(b, c) pairs. Generated samples record the labels they were drawn to show, so co-occurrence
statistics of the augmented set read the same table as the original's."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class LabelSetsMixin:
    def label_name_map(self) -> dict[int, str]:
        """label id -> name of the project's label space (empty for a single-label dataset)."""
        return {r["label"]: r["name"] for r in self.query("select * from label_names order by 1")}

    def label_sets(self, sample_ids: Sequence[int] | None = None) -> dict[int, set[int]]:
        """sample id -> its label set (samples without labels are absent)."""
        rows = self.query("select sample_id, label from sample_labels order by sample_id, label")
        wanted = None if sample_ids is None else {int(i) for i in sample_ids}
        out: dict[int, set[int]] = {}
        for row in rows:
            if wanted is None or row["sample_id"] in wanted:
                out.setdefault(row["sample_id"], set()).add(row["label"])
        return out

    def biased_pair_list(self) -> list[tuple[int, int, float]]:
        """The stored (b, c, bias score) pairs, highest score first."""
        rows = self.query(
            "select b, c, bias_score from biased_pairs order by bias_score desc, b, c"
        )
        return [(r["b"], r["c"], float(r["bias_score"])) for r in rows]

    def set_label_space(self, names: dict[int, str], pairs: Iterable[tuple] = ()) -> None:
        """Replace the label names and biased pairs (tests and importers), in one transaction."""
        with self.write() as db:
            db.execute("delete from label_names")
            db.execute("delete from biased_pairs")
            db["label_names"].insert_all([{"label": k, "name": v} for k, v in names.items()])
            rows = [{"b": int(b), "c": int(c), "bias_score": float(s)} for b, c, s in pairs]
            if rows:
                db["biased_pairs"].insert_all(rows)

    def add_sample_labels(self, labels: dict[int, Iterable[int]]) -> None:
        """Record label sets of existing samples (idempotent)."""
        rows = [
            {"sample_id": int(sid), "label": int(label)}
            for sid, values in labels.items()
            for label in values
        ]
        with self.write() as db:
            if rows:
                db["sample_labels"].insert_all(rows, ignore=True)
