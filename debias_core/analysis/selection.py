"""Actions on a selection of samples (a lasso in the embeddings view, a grid, a saved view).

Accept / reject append ordinary decisions (generated samples only: real ones are skipped and
counted); tag / un-tag append tag events. Above CONFIRM_ABOVE samples an action must be
confirmed, so one stray lasso cannot decide thousands of samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from debias_core.store import SampleFilter, Store
from debias_core.store.tags import parse_tags

CONFIRM_ABOVE = 20
ACTIONS = ("accept", "reject", "tag", "untag")


@dataclass(frozen=True)
class SelectionResult:
    action: str
    selected: int  # samples in the selection
    changed: int  # decisions appended, or (sample, tag) pairs added / removed
    skipped_real: int = 0  # real samples a decision skipped

    def message(self) -> str:
        verb = {"accept": "Accepted", "reject": "Rejected", "tag": "Tagged", "untag": "Un-tagged"}
        skipped = f" ({self.skipped_real} real samples skipped)" if self.skipped_real else ""
        unit = "samples" if self.action in ("accept", "reject") else "tag changes"
        return f"{verb[self.action]}: {self.changed} {unit} of {self.selected} selected{skipped}."


def check_selection(ids: Sequence[int], action: str, confirmed: bool) -> list[int]:
    """The de-duplicated ids; refuses an unknown action, an empty or an unconfirmed selection."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}, got {action!r}")
    unique = sorted({int(i) for i in ids})
    if not unique:
        raise ValueError("the selection is empty: lasso or tick some samples first")
    if len(unique) > CONFIRM_ABOVE and not confirmed:
        raise ValueError(
            f"{len(unique)} samples selected: tick the confirmation to act on more than "
            f"{CONFIRM_ABOVE} at once"
        )
    return unique


def apply_to_selection(
    store: Store,
    sample_ids: Sequence[int],
    action: str,
    reviewer: str,
    *,
    tags: str | Sequence[str] = "",
    reason: str = "",
    confirmed: bool = False,
) -> SelectionResult:
    """Accept, reject, tag or un-tag the selection, as append-only rows with reviewer and reason."""
    ids = check_selection(sample_ids, action, confirmed)
    if action in ("tag", "untag"):
        names = parse_tags(tags)
        if not names:
            raise ValueError("type a tag to add or remove")
        change = store.add_tags if action == "tag" else store.remove_tags
        return SelectionResult(action, len(ids), change(ids, names, reviewer, reason))
    generated = generated_ids(store, ids)
    if generated:
        store.decide(generated, action, reviewer, reason)
    return SelectionResult(action, len(ids), len(generated), len(ids) - len(generated))


def generated_ids(store: Store, ids: list[int]) -> list[int]:
    """The generated samples among `ids` (in chunks: a lasso may hold 50,000 ids)."""
    out: list[int] = []
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        out += store.sample_ids(SampleFilter(source="generated", ids=chunk))
    return out
