"""The co-occurrence matrix P(context | biased object) of the original training set next to the
augmented one (seed 000, Figure 6): which co-occurrences an augmentation removed and which it
introduced.

Rows are the biased objects b of the project's biased pairs; columns every other label seen with
one of them. Original = the real train split; augmented = the real train split plus the
generated samples with label sets (accepted ones by default: only verified images count).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from debias_core.store import SampleFilter

STATUSES = ("accepted", "all")


@dataclass(frozen=True)
class CooccurrenceTable:
    objects: tuple[str, ...]  # rows: the biased objects
    contexts: tuple[str, ...]  # columns
    original: tuple[tuple[float | None, ...], ...]  # P(context | object); None: no image of it
    augmented: tuple[tuple[float | None, ...], ...]
    n_original: tuple[int, ...]  # images of each object
    n_augmented: tuple[int, ...]
    generated: int  # generated images counted in the augmented set

    def as_dict(self) -> dict:
        return asdict(self)


def conditional(label_sets: Iterable[set[int]], rows: list[int], cols: list[int]):
    """(P(col | row) per row and column, images per row) over label sets."""
    sets = list(label_sets)
    counts = []
    table = []
    for b in rows:
        with_b = [s for s in sets if b in s]
        counts.append(len(with_b))
        table.append(
            tuple((sum(c in s for s in with_b) / len(with_b)) if with_b else None for c in cols)
        )
    return tuple(table), tuple(counts)


def cooccurrence(
    store, status: str = "accepted", objects: Iterable[int] | None = None
) -> CooccurrenceTable:
    """The table of the project (ValueError on a project without label sets)."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    names = store.label_name_map()
    if not names:
        raise ValueError("co-occurrence needs a multi-label project (it has no label names)")
    rows = sorted(set(objects) if objects is not None else {p.b for p in store.pairs_for_study()})
    if not rows:
        raise ValueError("no biased pairs stored: find them first, or name the objects")
    real = store.label_sets(store.sample_ids(SampleFilter(source="real", split="train")))
    where = SampleFilter(source="generated", status=None if status == "all" else "accepted")
    made = store.label_sets(store.sample_ids(where))
    seen = {label for s in [*real.values(), *made.values()] if set(rows) & s for label in s}
    cols = sorted(seen - set(rows)) or sorted(set(names) - set(rows))
    original, n_original = conditional(real.values(), rows, cols)
    augmented, n_augmented = conditional([*real.values(), *made.values()], rows, cols)
    return CooccurrenceTable(
        objects=tuple(names.get(b, str(b)) for b in rows),
        contexts=tuple(names.get(c, str(c)) for c in cols),
        original=original,
        augmented=augmented,
        n_original=n_original,
        n_augmented=n_augmented,
        generated=len(made),
    )


def format_table(table: CooccurrenceTable) -> str:
    """Plain text: per object, its n and P(context | object) original -> augmented."""
    width = max([len("object"), *map(len, table.objects)])
    head = "  ".join(f"{c[:12]:>12}" for c in table.contexts)
    lines = [
        f"P(context | object), original -> augmented ({table.generated} generated images)",
        f"{'object':<{width}}  {'n':>11}  {head}",
    ]
    for k, obj in enumerate(table.objects):
        cells = "  ".join(
            f"{_p(a):>5}->{_p(b):<5}"
            for a, b in zip(table.original[k], table.augmented[k], strict=True)
        )
        n = f"{table.n_original[k]}->{table.n_augmented[k]}"
        lines.append(f"{obj:<{width}}  {n:>11}  {cells}")
    return "\n".join(lines)


def _p(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.2f}"


def cooccurrence_figure(table: CooccurrenceTable):
    """Two heatmaps side by side, original and augmented, on one colour scale (0 to 1)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    titles = ("original (real train)", f"augmented (+{table.generated} generated)")
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=titles)
    panels = ((table.original, table.n_original), (table.augmented, table.n_augmented))
    for col, (values, counts) in enumerate(panels, start=1):
        fig.add_trace(
            go.Heatmap(
                z=[list(row) for row in values],
                x=list(table.contexts),
                y=list(table.objects),
                zmin=0.0,
                zmax=1.0,
                colorscale="Blues",
                showscale=col == 2,
                text=[[_p(v).strip() for v in row] for row in values],
                texttemplate="%{text}",
                customdata=[[n] * len(table.contexts) for n in counts],
                hovertemplate="P(%{x} | %{y}) = %{z:.2f} over %{customdata} images<extra></extra>",
            ),
            row=1,
            col=col,
        )
    fig.update_yaxes(autorange="reversed", title_text="biased object", row=1, col=1)
    fig.update_xaxes(title_text="context")
    fig.update_layout(
        height=max(260, 80 + 28 * len(table.objects)),
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        title_text="P(context | biased object)",
    )
    return fig
