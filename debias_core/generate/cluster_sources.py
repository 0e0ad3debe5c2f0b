"""Which cluster pool each target group of Clustered DreamBooth draws from: its own, or, for a
group too small to cluster, a donor's (the class's largest group, or the largest group with its
context where the attribute lies on the object; the paper's A.5 / A.6), and A.6's emphasis of the
label the donor does not share. Split from `clustered_dreambooth.py`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from debias_core.generate.sites import on_object
from debias_core.store import SampleFilter


# -- which pool each group draws from ------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    """The group whose cluster pool a target group draws from; `borrowed`: not its own, and
    `by`: the label the donor shares with it ('class' or 'context')."""

    group: tuple[int, int]
    borrowed: bool
    by: str = ""


def train_sizes(store) -> dict[tuple[int, int], int]:
    """Real train images per (class, context) group."""
    sizes: dict[tuple[int, int], int] = defaultdict(int)
    for s in store.list_samples(SampleFilter(source="real", split="train")):
        sizes[(s.y, s.a)] += 1
    return dict(sizes)


def borrow_by(store, params) -> str:
    """'class' or 'context': the label a borrowed group shares with its donor."""
    if params.borrow_from != "auto":
        return params.borrow_from
    return "context" if on_object(store) else "class"


def donor(sizes: dict, y: int, a: int, by: str) -> tuple[int, tuple[int, int]]:
    """(size, group) of the largest group sharing y (by class) or a (by context); ties go to
    the smaller index."""
    if by == "class":
        shared = [(n, -aa, (yy, aa)) for (yy, aa), n in sizes.items() if yy == y]
    else:
        shared = [(n, -yy, (yy, aa)) for (yy, aa), n in sizes.items() if aa == a and yy != y]
    best = max(shared, default=(0, 0, (y, a)))
    return best[0], best[2]


def sources(store, groups, params) -> dict[tuple[int, int], Source]:
    """Each target group's pool: its own, or (borrow) the largest group sharing its class or
    its context (`borrow_from`)."""
    sizes, by = train_sizes(store), borrow_by(store, params)
    out, refused = {}, []
    for y, a in groups:
        if sizes.get((y, a), 0) >= params.min_group:
            out[(y, a)] = Source((y, a), False)
            continue
        size, group = donor(sizes, y, a, by)
        if not params.borrow or size < params.min_group:
            refused.append(((y, a), sizes.get((y, a), 0)))
            continue
        out[(y, a)] = Source(group, True, by)
    if refused:
        shown = ", ".join(f"{g} ({n})" for g, n in refused[:8])
        more = f" and {len(refused) - 8} more" if len(refused) > 8 else ""
        why = (
            "and borrow=false"
            if not params.borrow
            else f"and no group of their {by} has that many to borrow from"
        )
        raise ValueError(
            f"clustered-dreambooth: group(s) {shown}{more} have fewer than "
            f"min_group={params.min_group} real train images to cluster {why}; "
            "lower min_group, set borrow=true, or generate other groups"
        )
    return out


def emphasised(meta: dict, words: dict, text, y: int, by: str) -> tuple[dict, str]:
    """A.6: the label the donor does not share in ((double parentheses)), its other values so
    marked as the negative prompt."""
    if by == "class":
        negative = ", ".join(f"(({o}))" for o in text.other_contexts)
        return words | {"ctx": f"(({text.context_text}))"}, negative
    classes = meta.get("class_names", [])
    negative = ", ".join(f"(({c}))" for k, c in enumerate(classes) if k != y)
    return words | {"cls": f"(({text.class_text}))"}, negative
