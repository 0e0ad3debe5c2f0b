"""Review tab: a filtered queue of generated samples, one at a time or as a multi-select grid.

Every decision and tag is written to the store before the reply (append-only rows with reviewer,
time and an optional reason). Keys: a accept, r reject, z undo, j / → next, k / ← previous,
i attribution; in the grid (once clicked) arrows move, space toggles, a / r act on the selection.
Filters: method, group, job, status (needs-review too), tag, policy verdict, a score range, a
sort, the judge's reading (disputed: a judge reads another group than the recorded one); saved by
name as views. Side panels: export / import of curation, policy agreement.
Run alone: python -m ui.review --project DIR
"""

from __future__ import annotations

import gradio as gr

from ui import review_grid as rg
from ui import review_queue as rq
from ui import review_tools as rt
from ui import review_view as rv
from ui.common import ANY, TabView, friendly, run_choices
from ui.review_layout import ReviewPage, build_page
from ui.state import AppContext


def render(ctx: AppContext) -> TabView:
    """The tab's widgets (ui/review_layout.py), then its listeners, one feature at a time."""
    with gr.Tab("Review", id="review") as tab:
        page = build_page(ctx)
    rt.checked_file(page.curation.import_in)
    queue_outputs = wire_queue(ctx, page)
    wire_single(ctx, page)
    wire_grid(ctx, page)
    choice_outputs = wire_panels(ctx, page)
    on_filter = filter_handler(ctx)
    inputs = [*page.filters.values(), page.filters.run]
    tab.select(lambda: choices(ctx), None, choice_outputs, api_name="review_open").then(
        on_filter, inputs, queue_outputs, api_name="review_open_queue"
    )

    def refresh():  # page load: the widgets hold their defaults, so the queue uses them too
        defaults = (ANY, ANY, ANY, "pending", ANY, ANY, "", "", "", "id", ANY)
        return (*choices(ctx), *rq.load_queue(ctx, defaults, ""))

    return TabView("review", refresh, [*choice_outputs, *queue_outputs])


def choices(ctx: AppContext) -> tuple:
    """Fresh choices of the dropdowns that grow with the project (methods, jobs, runs, ...)."""
    return (
        gr.Dropdown(choices=rq.method_choices(ctx)),
        gr.Dropdown(choices=rq.job_choices(ctx)),
        gr.Dropdown(choices=[("none", "")] + run_choices(ctx.store)),
        gr.Dropdown(choices=rq.tag_choices(ctx)),
        gr.Dropdown(choices=rq.scorer_choices(ctx)),
        gr.Dropdown(choices=rq.sort_choices(ctx)),
        gr.Dropdown(choices=ctx.store.list_views()),
    )


def choice_widgets(page: ReviewPage) -> list:
    f = page.filters
    return [f.method, f.job, f.run, f.tag, f.scorer, f.sort, page.saved.views]


def sample_widgets(page: ReviewPage) -> list:
    """What showing one sample updates: the queue state, then `review_queue.to_updates`."""
    s = page.single
    return [page.queue, s.sample_id, page.head, *s.images.values(), s.evidence, s.scores,
            s.recipe, page.counts]  # fmt: skip


def queue_widgets(page: ReviewPage) -> list:
    """What loading a queue updates: the sample, the bulk confirmation and grid page 1."""
    g = page.grid
    return [*sample_widgets(page), page.single.confirm, g.grid, g.note, g.page]


def filter_handler(ctx: AppContext):
    @friendly
    def on_filter(*values):
        *chosen, run_id = values
        return rq.load_queue(ctx, tuple(chosen), run_id)

    return on_filter


def wire_queue(ctx: AppContext, page: ReviewPage) -> list:
    """Filters and Load queue (re)build the queue; returns the widgets a load updates."""
    filters, outputs = page.filters.values(), queue_widgets(page)
    low, high = page.filters.low, page.filters.high
    on_filter = filter_handler(ctx)
    # Choices apply at once; typed score bounds on Enter (not on every key).
    picked = [w.input for w in filters if w is not low and w is not high]
    gr.on(
        [*picked, low.submit, high.submit], on_filter, [*filters, page.filters.run], outputs,
        api_name="review_filter",
    )  # fmt: skip
    page.single.reload.click(
        on_filter, [*filters, page.filters.run], outputs, api_name="review_load_queue"
    )
    return outputs


def wire_single(ctx: AppContext, page: ReviewPage) -> None:
    """One sample at a time: open, step, decide, undo, attribution, tags and the bulk action."""
    s, queue, run, reason = page.single, page.queue, page.filters.run, page.reason
    shown = sample_widgets(page)

    @friendly
    def on_open(queue, sample_id, run):
        rv.generated_sample(ctx, sample_id)  # refuse unknown ids before moving
        queue.go_to(int(sample_id))
        return rq.show(ctx, queue, sample_id, run)

    def on_step(delta):
        @friendly
        def move(queue, run):
            return rq.show(ctx, queue, queue.step(delta), run)

        return move

    def on_decide(decision):
        @friendly
        def decide_current(queue, sample_id, run, reason, request: gr.Request):
            return rq.decide(ctx, decision, queue, sample_id, run, reason, request)

        return decide_current

    @friendly
    def on_undo(queue, sample_id, run, request: gr.Request):
        return rq.undo(ctx, queue, sample_id, run, request)

    @friendly
    def on_attribute(sample_id, run):
        sid = rv.generated_sample(ctx, sample_id).id
        if rv.parse_optional_int(run, "run") is None:  # a hint, not an error badge
            gr.Info("Choose a finished training run (IG run) first, then press i.")
            return gr.skip(), gr.skip(), gr.skip()
        path, caption = rv.attribution_view(ctx, sid, run, compute=True)
        return (
            gr.Image(path, label=caption, visible=True),
            rv.score_rows(ctx, sid),
            rv.evidence_after_attribution(ctx, sid),  # the "press i" hint goes
        )

    @friendly
    def on_run(sample_id, run):
        if sample_id is None:
            return gr.Image(None, label=rq.IMAGE_LABELS["ig"], visible=False)
        path, caption = rv.attribution_view(ctx, int(sample_id), run, compute=False)
        return gr.Image(path, label=caption, visible=path is not None)

    @friendly
    def on_bulk(m, g, j, st, tg, vd, sc, lo, hi, so, rd, action, confirmed, reason,
                request: gr.Request):  # fmt: skip
        chosen = (m, g, j, st, tg, vd, sc, lo, hi, so, rd)
        return rq.bulk(ctx, chosen, action, confirmed, reason, request)

    def on_tag(action):
        @friendly
        def tag_sample(queue, sample_id, run, tags, reason, request: gr.Request):
            note = rq.tag_shown(ctx, action, sample_id, tags, reason, request)
            return note, *rq.show(ctx, queue, sample_id, run)

        return tag_sample

    s.sample_id.submit(on_open, [queue, s.sample_id, run], shown, api_name="review_show")
    run.input(on_run, [s.sample_id, run], s.images["ig"], api_name="review_run")
    s.prev.click(on_step(-1), [queue, run], shown, api_name="review_prev")
    s.next.click(on_step(+1), [queue, run], shown, api_name="review_next")
    for btn, decision in ((s.accept, "accept"), (s.reject, "reject")):
        btn.click(
            on_decide(decision),
            [queue, s.sample_id, run, reason],
            shown,
            api_name=f"review_{decision}",
        )
    s.undo.click(on_undo, [queue, s.sample_id, run], shown, api_name="review_undo")
    s.ig.click(
        on_attribute,
        [s.sample_id, run],
        [s.images["ig"], s.scores, s.evidence],
        api_name="review_attribution",
        concurrency_limit=1,
        concurrency_id="attribution",
    )
    for btn, act in ((s.tag, "tag"), (s.untag, "untag")):
        btn.click(
            on_tag(act),
            [queue, s.sample_id, run, page.tags, reason],
            [s.tag_note, *shown],
            api_name=f"review_{act}",
        )
    s.bulk.click(
        on_bulk,
        [*page.filters.values(), s.action, s.confirm, reason],
        [s.bulk_note, *queue_widgets(page)],
        api_name="review_bulk",
    )


def wire_grid(ctx: AppContext, page: ReviewPage) -> None:
    """The multi-select grid: its pages and the actions on its selection."""
    g, queue, run = page.grid, page.queue, page.filters.run
    shown = sample_widgets(page)

    def on_page(delta):
        @friendly
        def move(queue, value, number):
            number = rv.parse_optional_int(number, "grid page") or 1
            grid = rg.grid_value(ctx, queue.ids, max(number + delta, 1), value)
            return grid, rg.grid_info(grid), grid["page"]

        return move

    def on_grid(action):
        @friendly
        def act(queue, value, tags, reason, confirmed, sample_id, run, request: gr.Request):
            out = rq.grid_action(ctx, action, queue, value, tags, reason, confirmed, request)
            refreshed = (
                rq.show(ctx, queue, sample_id, run)
                if sample_id is not None
                else (gr.skip(),) * len(shown)
            )
            return *out, *refreshed

        return act

    page_outputs = [g.grid, g.note, g.page]
    g.prev.click(on_page(-1), [queue, g.grid, g.page], page_outputs,
                 api_name="review_grid_prev")  # fmt: skip
    g.next.click(on_page(+1), [queue, g.grid, g.page], page_outputs,
                 api_name="review_grid_next")  # fmt: skip
    g.page.submit(on_page(0), [queue, g.grid, g.page], page_outputs, api_name="review_grid_page")
    for act, btn in g.buttons.items():
        btn.click(
            on_grid(act),
            [queue, g.grid, page.tags, page.reason, g.confirm, page.single.sample_id, run],
            [g.action_note, g.grid, g.note, g.confirm, *shown],
            api_name=f"review_grid_{act}",
        )


def wire_panels(ctx: AppContext, page: ReviewPage) -> list:
    """Saved views, export / import and policy agreement; returns the dropdowns whose choices
    grow with the project (refreshed when a view loads or the tab opens)."""
    saved, cur, agree = page.saved, page.curation, page.agreement
    filters, choice_outputs = page.filters.values(), choice_widgets(page)

    @friendly
    def on_save_view(name, *values):
        note = rt.save_view(ctx, name, values)
        return note, gr.Dropdown(choices=ctx.store.list_views(), value=" ".join(name.split()))

    @friendly
    def on_load_view(name):
        return choices(ctx) + rt.load_view(ctx, name)

    @friendly
    def on_export(status, generated):
        return rt.export_file(ctx, status, generated)

    @friendly
    def on_import(path, unchecked, request: gr.Request):
        note = rt.import_file(ctx, path, ctx.reviewer_for(request), unchecked)
        return note, rv.counts_text(ctx)

    @friendly
    def on_agreement():
        return rt.agreement_rows(ctx)

    saved.save.click(
        on_save_view, [saved.name, *filters], [saved.note, saved.views],
        api_name="review_save_view",
    )  # fmt: skip
    saved.load.click(
        on_load_view, saved.views, [*choice_outputs, *filters], api_name="review_load_view"
    ).success(
        filter_handler(ctx), [*filters, page.filters.run], queue_widgets(page),
        api_name="review_view_queue",
    )  # fmt: skip
    cur.export.click(
        on_export, [cur.export_status, cur.export_generated], cur.export_out,
        api_name="review_export", concurrency_limit=1, concurrency_id="export",
    )  # fmt: skip
    cur.import_btn.click(
        on_import,
        [cur.import_in, cur.import_unchecked],
        [cur.import_note, page.counts],
        api_name="review_import",
    )
    agree.button.click(on_agreement, None, [agree.table, agree.note], api_name="review_agreement")
    return choice_outputs


if __name__ == "__main__":
    from ui.launch import run_tab

    run_tab("Review", render)
