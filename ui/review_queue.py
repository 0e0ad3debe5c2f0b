"""Review's queue actions, one per handler: show a sample, decide, undo, bulk, tag, act on the
grid's selection. Each returns the widget updates the tab's listeners send back (no layout here).
"""

from __future__ import annotations

import gradio as gr

from debias_core.analysis.selection import apply_to_selection
from debias_core.generate import GENERATORS
from ui import review_grid as rg
from ui import review_view as rv
from ui.common import ANY, as_bool
from ui.state import AppContext

IMAGE_LABELS = {
    "source": "Source",
    "content": "Content",
    "mask": "Mask",
    "generated": "Generated",
    "ig": "Integrated Gradients",
}


def method_choices(ctx: AppContext) -> list[str]:
    return [ANY, *sorted(set(GENERATORS.names()) | set(ctx.store.recipe_methods()))]


def job_choices(ctx: AppContext) -> list[tuple[str, str]]:
    jobs = [j for j in ctx.store.list_jobs(limit=200) if j.kind == "generate"]
    return [("any", ANY)] + [(f"#{j.id} ({j.status})", str(j.id)) for j in jobs]


def tag_choices(ctx: AppContext) -> list[tuple[str, str]]:
    return [("any", ANY)] + [(f"{t} ({n})", t) for t, n in ctx.store.tag_counts().items()]


def scorer_choices(ctx: AppContext) -> list[tuple[str, str]]:
    return [("none", "")] + [(s, s) for s in ctx.store.scorer_names()]


def sort_choices(ctx: AppContext) -> list[tuple[str, str]]:
    out = [("id ↑", "id"), ("id ↓", "-id")]
    for s in ctx.store.scorer_names():
        out += [(f"{s} ↑", f"score:{s}"), (f"{s} ↓", f"-score:{s}")]
    return out


def to_updates(view: rv.SampleView) -> tuple:
    """A SampleView as widget updates: panels with nothing to show collapse."""
    images = []
    for name, label in IMAGE_LABELS.items():
        panel = view.panels.get(name)
        shown = panel is not None
        images.append(
            gr.Image(panel.path if shown else None, label=panel.label if shown else label,
                     visible=shown)
        )  # fmt: skip
    return (
        view.sample_id,
        view.header,
        *images,
        view.evidence,
        view.scores,
        view.recipe,
        view.counts,
    )


def show(ctx: AppContext, queue: rv.Queue, sample_id, run) -> tuple:
    if sample_id is None:
        return (queue, *to_updates(rv.empty_outputs(ctx, "The queue is empty.")))
    sample = rv.generated_sample(ctx, sample_id)
    return (queue, *to_updates(rv.sample_outputs(ctx, sample, queue, run)))


def load_queue(ctx, filters: tuple, run) -> tuple:
    """The queue for the filters, its first sample, the bulk confirmation and grid page 1."""
    queue = rv.build_queue(ctx, *filters)
    n = len(queue.ids)
    confirm = gr.Checkbox(value=False, label=f"Yes, apply to all {n} samples of this filter")
    grid = rg.grid_value(ctx, queue.ids, 1)
    return (*show(ctx, queue, queue.current(), run), confirm, grid, rg.grid_info(grid), 1)


def decide(ctx, decision: str, queue: rv.Queue, sample_id, run, reason, request=None) -> tuple:
    sample = rv.generated_sample(ctx, sample_id)
    ctx.store.decide([sample.id], decision, ctx.reviewer_for(request), rv.text(reason, "reason"))
    queue.last = sample.id
    queue.go_to(sample.id)
    return show(ctx, queue, queue.step(+1) if sample.id in queue.ids else sample.id, run)


def undo(ctx: AppContext, queue: rv.Queue, sample_id, run, request=None) -> tuple:
    """Revert this browser's last decision (or the shown sample's) and go back to it."""
    target = rv.generated_sample(ctx, queue.last if queue.last is not None else sample_id)
    if ctx.store.verdicts_of(target.id)["person"] is None:  # policies' verdicts are not undone
        raise ValueError(f"sample {target.id} has no decision to undo")
    ctx.store.decide([target.id], "undo", ctx.reviewer_for(request))
    queue.last = None
    queue.go_to(target.id)
    return show(ctx, queue, target.id, run)


def bulk(ctx, filters: tuple, action, confirmed, reason, request=None) -> tuple:
    """Decide every sample of the filter; the note, then the reloaded queue (nothing stale)."""
    if action not in ("accept", "reject"):
        raise ValueError(f"bulk action must be accept or reject, got {action!r}")
    if not as_bool(confirmed, "the confirmation"):
        raise ValueError("tick the confirmation box first")
    why = rv.text(reason, "reason") or "bulk"
    ids = rv.review_ids(ctx.store, rv.queue_filter(*filters))
    if ids:
        ctx.store.decide(ids, action, ctx.reviewer_for(request), reason=why)
    note = f"{action.title()}ed {len(ids)} samples." if ids else "No samples match the filter."
    return note, *load_queue(ctx, filters, None)


def tag_shown(ctx, action: str, sample_id, tags, reason, request=None) -> str:
    sample = rv.generated_sample(ctx, sample_id)
    result = apply_to_selection(
        ctx.store, [sample.id], action, ctx.reviewer_for(request),
        tags=rv.text(tags, "tags"), reason=rv.text(reason, "reason"),
    )  # fmt: skip
    return result.message()


def grid_action(ctx, action, queue: rv.Queue, value, tags, reason, confirmed, request=None):
    """Accept / reject / tag / un-tag the grid's selection; the grid and counts refresh."""
    result = apply_to_selection(
        ctx.store, rg.selected_ids(value), action, ctx.reviewer_for(request),
        tags=rv.text(tags, "tags"), reason=rv.text(reason, "reason"),
        confirmed=as_bool(confirmed, "the confirmation"),
    )  # fmt: skip
    page = value.get("page", 1) if isinstance(value, dict) else 1
    grid = rg.grid_value(ctx, queue.ids, page)  # the selection is spent
    return result.message(), grid, rg.grid_info(grid), False
