"""Reads the fairness report needs: aggregates and small, bounded picks of samples.

Every query here groups or limits in SQL, so a 50,000-sample project costs a few aggregate scans,
never 50,000 Python rows.
"""

from __future__ import annotations

# The latest reason a person (not a policy) gave for a sample, ignoring undos.
_PERSON_REASON = (
    "(select x.reason from decisions x where x.sample_id = s.id and x.origin = 'person'"
    " and x.decision != 'undo' order by x.id desc limit 1)"
)
_PERSON_NAME = (
    "(select x.reviewer from decisions x where x.sample_id = s.id and x.origin = 'person'"
    " and x.decision != 'undo' order by x.id desc limit 1)"
)
_POLICY_LATEST = (
    "(select x.{col} from decisions x where x.sample_id = s.id and x.origin = 'policy'"
    " order by x.id desc limit 1)"
)


class ReportMixin:
    def generated_status_counts(self) -> list[dict]:
        """Generated samples counted by (method, job, status, person status, policy status)."""
        return self.query(
            "select coalesce(r.method, 'unknown') as method, s.job_id as job_id,"
            " coalesce(c.status, 'pending') as status, c.person_status as person,"
            " c.policy_status as policy, count(*) as n"
            " from samples s left join recipes r on r.id = s.recipe_id"
            " left join curation c on c.sample_id = s.id where s.source = 'generated'"
            " group by 1, 2, 3, 4, 5 order by 1, 2"
        )

    def generated_examples(self, method: str, status: str, limit: int) -> list[dict]:
        """Up to `limit` generated samples of `method` with curation `status`: the ones a person
        decided with a typed reason first, then other person-decided ones, then the rest."""
        return self.query(
            "select s.id, s.y, s.a, s.path, s.recipe_id, s.job_id, s.parent_id,"
            " c.person_status as person, c.policy_status as policy,"
            f" {_PERSON_REASON} as reason, {_PERSON_NAME} as reviewer,"
            f" {_POLICY_LATEST.format(col='reviewer')} as policy_name,"
            f" {_POLICY_LATEST.format(col='reason')} as policy_reason"
            " from samples s join recipes r on r.id = s.recipe_id"
            " join curation c on c.sample_id = s.id"
            " where s.source = 'generated' and r.method = ? and c.status = ?"
            " order by (coalesce(reason, '') != '') desc, (c.person_status is not null) desc, s.id"
            " limit ?",
            [method, status, int(limit)],
        )

    def person_reasons(self, limit_per_method: int = 5) -> list[dict]:
        """The reasons people typed, most frequent first per (method, decision)."""
        rows = self.query(
            "select coalesce(r.method, 'unknown') as method, d.decision, d.reason,"
            " count(*) as n from decisions d join samples s on s.id = d.sample_id"
            " left join recipes r on r.id = s.recipe_id"
            " where d.origin = 'person' and d.decision != 'undo' and trim(d.reason) != ''"
            " group by 1, 2, 3 order by 1, 2, n desc, 3"
        )
        kept: dict[tuple[str, str], int] = {}
        out = []
        for row in rows:
            key = (row["method"], row["decision"])
            kept[key] = kept.get(key, 0) + 1
            if kept[key] <= limit_per_method:
                out.append(row)
        return out

    def group_examples(self, per_group: int, split: str = "train") -> list[dict]:
        """The first `per_group` real samples of every (y, a) group of `split`."""
        return self.query(
            "select id, y, a, path from (select id, y, a, path, row_number() over"
            " (partition by y, a order by id) as k from samples"
            " where source = 'real' and split = ?) where k <= ? order by y, a, id",
            [split, int(per_group)],
        )

    def recipe_backbones(self) -> list[dict]:
        """Each (backbone id, hash) the project's recipes used, with how many images."""
        return self.query(
            "select r.backbone_id, r.backbone_hash, count(*) as n from samples s"
            " join recipes r on r.id = s.recipe_id group by 1, 2 order by n desc"
        )

    def distance_coverage(self, features: str, model_hash: str) -> tuple[int, int]:
        """(samples a Fréchet distance reads: generated + real train / test, how many of them
        have a vector in this feature space): the report computes distances only when all do."""
        row = self.query(
            "select count(*) as n, sum(e.sample_id is not null) as have from samples s"
            " left join embeddings e on e.sample_id = s.id and e.features = ?"
            " and e.model_hash = ? where s.source = 'generated'"
            " or (s.source = 'real' and s.split in ('train', 'test'))",
            [features, model_hash],
        )[0]
        return int(row["n"]), int(row["have"] or 0)
