"""The dataset section: group counts per split, the biased (rare) groups, example images."""

from __future__ import annotations

from debias_core.bias.stats import bias_summary, group_stats
from debias_core.report.images import thumb_uri
from debias_core.report.view import DatasetSection, ReportOptions, Thumb
from debias_core.store import Store


def dataset_section(store: Store, options: ReportOptions) -> DatasetSection:
    stats = group_stats(store)
    summary = bias_summary(stats)
    # Bias-conflicting groups are the rare ones a classifier can ignore; rarest first.
    biased = sorted((s for s in stats if not s.aligned), key=lambda s: (s.train, s.y, s.a))
    shown = _groups_to_show(stats, options.max_groups_shown)
    labels = {(s.y, s.a): s.label for s in stats}
    examples: dict[str, list[Thumb]] = {s.label: [] for s in stats if (s.y, s.a) in shown}
    if options.examples_per_group:
        _fill(store, examples, labels, shown, options, "train")
        # A group with no train image is the most biased one: show what it looks like in test.
        empty = {key for key in shown if not examples[labels[key]]}
        _fill(store, examples, labels, empty, options, "test")
    notes = []
    if len(shown) < len(stats):
        notes.append(f"examples of the {len(shown)} rarest of {len(stats)} groups")
    if any(t.split == "test" for thumbs in examples.values() for t in thumbs):
        notes.append("groups without a train image show test images (outlined)")
    note = "; ".join(notes)
    return DatasetSection(
        stats, biased, summary["train_samples"], summary["aligned_fraction"], examples, note
    )


def _fill(store: Store, examples, labels, keys, options: ReportOptions, split: str) -> None:
    if not keys:
        return
    for row in store.group_examples(options.examples_per_group, split):
        key = (row["y"], row["a"])
        if key in keys:
            uri = thumb_uri(store, row["path"], options.thumb_size)
            examples[labels[key]].append(Thumb(row["id"], uri, labels[key], split))


def _groups_to_show(stats, limit: int) -> set[tuple[int, int]]:
    """Every group when they fit; else the rarest in train (the ones the report is about)."""
    ranked = sorted(stats, key=lambda s: (s.train, s.y, s.a))
    return {(s.y, s.a) for s in ranked[:limit]}
