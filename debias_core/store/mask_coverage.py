"""Which samples have a mask: what a masked generator (DBB) checks before a job is queued."""

from __future__ import annotations


class MaskCoverageMixin:
    def masked_count(self, segmenter: str, source: str = "real", split: str = "train") -> int:
        """The number of samples of `source` / `split` with at least one mask from `segmenter`."""
        rows = self.query(
            "select count(*) as n from samples s where s.source = ? and s.split = ? and exists ("
            " select 1 from masks m where m.sample_id = s.id and m.segmenter = ?)",
            [source, split, segmenter],
        )
        return rows[0]["n"]
