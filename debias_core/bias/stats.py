"""Group statistics: how many samples each (class, context) group has, real and generated."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from debias_core.store import Store


@dataclass(frozen=True)
class GroupStat:
    y: int
    a: int
    class_name: str
    attr_name: str
    aligned: bool  # the class's majority context in the real train split
    train: int
    val: int
    test: int
    generated_accepted: int
    generated_pending: int
    generated_rejected: int
    # generated samples recorded here that a judge reads in another group: counted in no status
    generated_set_aside: int = 0

    @property
    def label(self) -> str:
        return f"{self.class_name} / {self.attr_name}"

    def table_row(self) -> list:
        """The values of one table row, in `TABLE_COLUMNS` order (CLI and UI share it)."""
        return [
            self.y,
            self.a,
            self.class_name,
            self.attr_name,
            "aligned" if self.aligned else "conflicting",
            self.train,
            self.val,
            self.test,
            self.generated_accepted,
            self.generated_pending,
            self.generated_rejected,
            self.generated_set_aside,
        ]


TABLE_COLUMNS = [
    "y",
    "a",
    "class",
    "context",
    "kind",
    "train",
    "val",
    "test",
    "gen accepted",
    "gen pending",
    "gen rejected",
    "gen set aside",
]


def group_stats(store: Store) -> list[GroupStat]:
    """One row per (y, a) group present in the project, in (y, a) order."""
    classes, attrs, aligned = store.class_names, store.attr_names, store.aligned_attrs()
    rows = []
    for c in store.group_counts():
        y, a = c["y"], c["a"]
        rows.append(
            GroupStat(
                y=y,
                a=a,
                class_name=classes[y] if y < len(classes) else str(y),
                attr_name=attrs[a] if a < len(attrs) else str(a),
                aligned=aligned.get(y) == a,
                train=c.get("real_train", 0),
                val=c.get("real_val", 0),
                test=c.get("real_test", 0),
                generated_accepted=c.get("generated_accepted", 0),
                generated_pending=c.get("generated_pending", 0),
                generated_rejected=c.get("generated_rejected", 0),
                generated_set_aside=c.get("generated_set_aside", 0),
            )
        )
    return rows


def bias_summary(stats: list[GroupStat]) -> dict:
    """Share of real train samples in bias-aligned groups, and the rarest train group."""
    train = sum(s.train for s in stats)
    aligned = sum(s.train for s in stats if s.aligned)
    rarest = min(stats, key=lambda s: s.train) if stats else None
    return {
        "train_samples": train,
        "aligned_fraction": aligned / train if train else 0.0,
        "rarest_group": rarest.label if rarest else None,
        "rarest_count": rarest.train if rarest else 0,
    }


def format_stats_table(stats: list[GroupStat]) -> str:
    """A plain-text table for the terminal."""
    head = TABLE_COLUMNS
    body = [s.table_row() for s in stats]
    widths = [max(len(str(r[i])) for r in [head, *body]) for i in range(len(head))]
    lines = [
        "  ".join(
            str(v).rjust(w) if isinstance(v, int) else str(v).ljust(w)
            for v, w in zip(r, widths, strict=True)
        )
        for r in [head, *body]
    ]
    summary = bias_summary(stats)
    lines.insert(1, "-" * len(lines[0]))
    lines.append(
        f"\n{summary['train_samples']} real train samples, "
        f"{summary['aligned_fraction']:.1%} in bias-aligned groups; "
        f"rarest group: {summary['rarest_group']} ({summary['rarest_count']})"
    )
    aside = sum(s.generated_set_aside for s in stats)
    if aside:
        lines.append(
            f"{aside} generated samples set aside: a judge reads them in another group than "
            "the one they are recorded in (see `verify`; Review shows both)"
        )
    return "\n".join(lines)


def stats_as_dicts(stats: list[GroupStat]) -> list[dict]:
    return [asdict(s) for s in stats]


PAIR_COLUMNS = ["rank", "b (object)", "c (context)", "bias score", "co-occur / exclusive", "from"]


def pair_rows(store: Store) -> list[dict]:
    """The project's biased pairs as rows: the measured ones (Singh et al.'s bias score of a
    standard classifier, held-out image counts), else the pairs a synthetic dataset was built
    with (no score yet); [] for a single-label project."""
    if not store.is_multilabel():
        return []
    names = store.label_names()
    measured = store.biased_pairs()
    pairs = measured or store.designed_pairs()
    return [
        {
            "rank": p.rank or k,
            "b": p.b,
            "c": p.c,
            "b_name": names[p.b],
            "c_name": names[p.c],
            "bias_score": p.bias_score,
            "n_cooccur": p.n_cooccur,
            "n_exclusive": p.n_exclusive,
            "run_id": p.run_id,
            "source": "measured" if measured else "designed",
        }
        for k, p in enumerate(pairs, start=1)
    ]


def pair_table_row(row: dict) -> list:
    """One row in PAIR_COLUMNS order (CLI and the Groups tab share it)."""
    score = "-" if row["bias_score"] is None else f"{row['bias_score']:.2f}"
    counts = "-" if row["n_cooccur"] is None else f"{row['n_cooccur']} / {row['n_exclusive']}"
    origin = f"run {row['run_id']}" if row["source"] == "measured" else "dataset design"
    return [row["rank"], row["b_name"], row["c_name"], score, counts, origin]


def format_pair_table(rows: list[dict]) -> str:
    if not rows:
        return "no biased pairs"
    note = (
        "biased pairs (Singh et al.'s bias score on held-out images)"
        if rows[0]["source"] == "measured"
        else "biased pairs as the dataset was built (not measured yet: run bias-pairs DIR)"
    )
    cells = [PAIR_COLUMNS] + [[str(v) for v in pair_table_row(r)] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(PAIR_COLUMNS))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip() for c in cells]
    return "\n".join([note, *lines])
