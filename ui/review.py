"""Review tab: a filtered queue of generated samples, one at a time or as a multi-select grid.

Every decision and tag is written to the store before the reply (append-only rows with reviewer,
time and an optional reason). Keys: a accept, r reject, z undo, j / → next, k / ← previous,
i attribution; in the grid (once clicked) arrows move, space toggles, a / r act on the selection.
Filters: method, group, job, status (needs-review too), tag, policy verdict, a score range, a
sort; saved by name as views. Side panels: export / import of curation, policy agreement.
Run alone: python -m ui.review --project DIR
"""

from __future__ import annotations

import gradio as gr

from debias_core.analysis.selection import CONFIRM_ABOVE, apply_to_selection
from debias_core.generate import GENERATORS
from ui import review_grid as rg
from ui import review_tools as rt
from ui import review_view as rv
from ui.common import ANY, TabView, as_bool, checked, friendly, group_choices, run_choices
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


def render(ctx: AppContext) -> TabView:  # noqa: PLR0915 (one layout, then its wiring)
    with gr.Tab("Review", id="review") as tab:
        queue_state = gr.State(rv.Queue())
        with gr.Row(equal_height=True):
            method = gr.Dropdown(
                method_choices(ctx), value=ANY, label="Method", elem_id="review-method"
            )
            group = gr.Dropdown(
                [("any", ANY), *group_choices(ctx.store)],
                value=ANY,
                label="Group",
                elem_id="review-group",
            )
            job = gr.Dropdown(job_choices(ctx), value=ANY, label="Job", elem_id="review-job")
            status = gr.Dropdown(
                rv.STATUSES, value="pending", label="Status", elem_id="review-status"
            )
            run = gr.Dropdown(
                [("none", "")] + run_choices(ctx.store),
                value="",
                label="IG run",
                elem_id="review-run",
            )
        with gr.Row(equal_height=True):
            tag = gr.Dropdown(tag_choices(ctx), value=ANY, label="Tag", elem_id="review-tag")
            verdict = gr.Dropdown(
                rv.VERDICT_CHOICES, value=ANY, label="Policy verdict", elem_id="review-verdict"
            )
            scorer = gr.Dropdown(
                scorer_choices(ctx), value="", label="Score", elem_id="review-scorer"
            )
            # Text, not Number: an empty Number reaches the handler as 0, not as "no bound".
            low = gr.Textbox(
                "", label="Score min", placeholder="no bound", elem_id="review-score-min"
            )
            high = gr.Textbox(
                "", label="Score max", placeholder="no bound", elem_id="review-score-max"
            )
            sort = gr.Dropdown(sort_choices(ctx), value="id", label="Sort", elem_id="review-sort")
        with gr.Accordion("Saved views", open=False):
            with gr.Row(equal_height=True):
                view_name = gr.Textbox(label="Name", scale=2, elem_id="review-view-name")
                save_view_btn = gr.Button("Save filter as view", elem_id="review-view-save")
                views = gr.Dropdown(
                    ctx.store.list_views(), value=None, label="Saved views", scale=2,
                    elem_id="review-views",
                )  # fmt: skip
                load_view_btn = gr.Button("Load view", elem_id="review-view-load")
            view_note = gr.Markdown(elem_id="review-view-note")
        head = gr.Markdown("### Press Load queue", elem_id="review-header")
        counts = gr.Markdown(rv.counts_text(ctx), elem_id="review-counts")
        with gr.Row(equal_height=True):
            tags = gr.Textbox(label="Tags (comma separated)", scale=2, elem_id="review-tags-text")
            reason = gr.Textbox(
                label="Reason (optional, recorded with decisions and tags)", scale=3,
                elem_id="review-reason",
            )  # fmt: skip
        with gr.Tabs():
            with gr.Tab("One at a time", id="review-single"):
                with gr.Row(elem_id="review-images"):
                    images = {
                        name: gr.Image(label=label, type="filepath", interactive=False,
                                       height=230, elem_id=f"review-img-{name}")
                        for name, label in IMAGE_LABELS.items()
                    }  # fmt: skip
                with gr.Row():
                    prev_btn = gr.Button("◀ Prev (k)", elem_id="review-prev", min_width=90)
                    accept_btn = gr.Button(
                        "Accept (a)", variant="primary", elem_id="review-accept", min_width=90
                    )
                    reject_btn = gr.Button(
                        "Reject (r)", variant="stop", elem_id="review-reject", min_width=90
                    )
                    undo_btn = gr.Button("Undo (z)", elem_id="review-undo", min_width=90)
                    next_btn = gr.Button("Next (j) ▶", elem_id="review-next", min_width=90)
                    ig_btn = gr.Button("Attribution (i)", elem_id="review-ig", min_width=90)
                    tag_btn = gr.Button("Tag", elem_id="review-tag-btn", min_width=90)
                    untag_btn = gr.Button("Un-tag", elem_id="review-untag-btn", min_width=90)
                tag_note = gr.Markdown(elem_id="review-tag-note")
                with gr.Row():
                    evidence = gr.Markdown(elem_id="review-evidence")
                    scores = gr.Dataframe(
                        headers=["scorer", "value", "run"], value=[], interactive=False,
                        label="Scores", scale=1,
                    )  # fmt: skip
                    recipe = gr.JSON(label="Recipe", scale=1, max_height=320)
                with gr.Row(equal_height=True):
                    sample_id = checked(
                        gr.Number(label="Sample id (Enter to open)", precision=0, minimum=0,
                                  elem_id="review-id")
                    )  # fmt: skip
                    reload_btn = gr.Button("Load queue", elem_id="review-load")
                    action = gr.Radio(["accept", "reject"], value="accept", label="Bulk action")
                    confirm = gr.Checkbox(
                        label="Yes, apply to all samples of this filter",
                        elem_id="review-bulk-confirm",
                    )
                    bulk_btn = gr.Button("Apply to filtered", variant="stop", elem_id="review-bulk")
                bulk_note = gr.Markdown(elem_id="review-bulk-note")
            with gr.Tab("Grid", id="review-grid-tab"):
                grid_note = gr.Markdown(elem_id="review-grid-info")
                grid = gr.HTML(
                    rg.empty_grid(), html_template=rg.GRID_HTML, css_template=rg.GRID_CSS,
                    js_on_load=rg.GRID_JS, elem_id="review-grid",
                )  # fmt: skip
                with gr.Row(equal_height=True):
                    grid_prev = gr.Button("◀ Page", size="sm", elem_id="review-grid-prev")
                    page = checked(gr.Number(1, label="Grid page", precision=0, minimum=1,
                                             elem_id="review-grid-page"))  # fmt: skip
                    grid_next = gr.Button("Page ▶", size="sm", elem_id="review-grid-next")
                    grid_confirm = gr.Checkbox(
                        label=f"Confirm (needed above {CONFIRM_ABOVE} samples)",
                        elem_id="review-grid-confirm",
                    )
                with gr.Row():
                    grid_buttons = {
                        "accept": gr.Button("Accept selected (a)", variant="primary",
                                            elem_id="review-grid-accept"),
                        "reject": gr.Button("Reject selected (r)", variant="stop",
                                            elem_id="review-grid-reject"),
                        "tag": gr.Button("Tag selected", elem_id="review-grid-tag"),
                        "untag": gr.Button("Un-tag selected", elem_id="review-grid-untag"),
                    }  # fmt: skip
                grid_action_note = gr.Markdown(elem_id="review-grid-note")
        with gr.Accordion("Export and import curation", open=False):
            with gr.Row(equal_height=True):
                export_status = gr.Radio(
                    rt.EXPORT_STATUSES, value="accepted", label="Generated samples to export"
                )
                export_generated = gr.Checkbox(True, label="Include generated samples")
                export_btn = gr.Button("Export zip", elem_id="review-export")
                export_out = gr.File(
                    label="Export", interactive=False, elem_id="review-export-file"
                )
            with gr.Row(equal_height=True):
                import_in = gr.File(
                    label="Curation CSV (sample_id, sha256, status, tags, reason)",
                    file_types=[".csv"], type="filepath", elem_id="review-import-file",
                )  # fmt: skip
                import_btn = gr.Button("Import decisions and tags", elem_id="review-import")
            import_note = gr.Markdown(elem_id="review-import-note")
        with gr.Accordion("Policy agreement with people", open=False):
            agree_btn = gr.Button("Compute agreement", size="sm", elem_id="review-agree")
            agree_note = gr.Markdown(elem_id="review-agree-note")
            agree_table = gr.Dataframe(
                headers=rt.AGREEMENT_HEADERS, value=[], interactive=False,
                label="Confusion matrix (rows: person, columns: policy) and Cohen's kappa",
            )  # fmt: skip
    rt.checked_file(import_in)

    filters = [method, group, job, status, tag, verdict, scorer, low, high, sort]
    view = [sample_id, head, *images.values(), evidence, scores, recipe, counts]
    state_view = [queue_state, *view]
    queue_outputs = [*state_view, confirm, grid, grid_note, page]

    # -- handlers: each calls one view / core function ------------------------------------------
    @friendly
    def on_filter(*values):
        *chosen, run_id = values
        return load_queue(ctx, tuple(chosen), run_id)

    @friendly
    def on_open(queue, sample_id, run):
        rv.generated_sample(ctx, sample_id)  # refuse unknown ids before moving
        queue.go_to(int(sample_id))
        return show(ctx, queue, sample_id, run)

    def on_step(delta):
        @friendly
        def move(queue, run):
            return show(ctx, queue, queue.step(delta), run)

        return move

    def on_decide(decision):
        @friendly
        def decide_current(queue, sample_id, run, reason, request: gr.Request):
            return decide(ctx, decision, queue, sample_id, run, reason, request)

        return decide_current

    @friendly
    def on_undo(queue, sample_id, run, request: gr.Request):
        return undo(ctx, queue, sample_id, run, request)

    @friendly
    def on_attribute(sample_id, run):
        sid = rv.generated_sample(ctx, sample_id).id
        if rv.parse_optional_int(run, "run") is None:  # a hint, not an error badge
            gr.Info("Choose a finished training run (IG run) first, then press i.")
            return gr.skip(), gr.skip()
        path, caption = rv.attribution_view(ctx, sid, run, compute=True)
        return gr.Image(path, label=caption, visible=True), rv.score_rows(ctx, sid)

    @friendly
    def on_run(sample_id, run):
        if sample_id is None:
            return gr.Image(None, label=IMAGE_LABELS["ig"], visible=False)
        path, caption = rv.attribution_view(ctx, int(sample_id), run, compute=False)
        return gr.Image(path, label=caption, visible=path is not None)

    @friendly
    def on_bulk(m, g, j, st, tg, vd, sc, lo, hi, so, action, confirmed, reason,
                request: gr.Request):  # fmt: skip
        chosen = (m, g, j, st, tg, vd, sc, lo, hi, so)
        return bulk(ctx, chosen, action, confirmed, reason, request)

    def on_tag(action):
        @friendly
        def tag_sample(queue, sample_id, run, tags, reason, request: gr.Request):
            note = tag_shown(ctx, action, sample_id, tags, reason, request)
            return note, *show(ctx, queue, sample_id, run)

        return tag_sample

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
            out = grid_action(ctx, action, queue, value, tags, reason, confirmed, request)
            shown = (
                show(ctx, queue, sample_id, run)
                if sample_id is not None
                else (gr.skip(),) * len(state_view)
            )
            return *out, *shown

        return act

    @friendly
    def on_save_view(name, *values):
        note = rt.save_view(ctx, name, values)
        return note, gr.Dropdown(choices=ctx.store.list_views(), value=" ".join(name.split()))

    @friendly
    def on_load_view(name):
        return choices() + rt.load_view(ctx, name)

    @friendly
    def on_export(status, generated):
        return rt.export_file(ctx, status, generated)

    @friendly
    def on_import(path, request: gr.Request):
        note = rt.import_file(ctx, path, ctx.reviewer_for(request))
        return note, rv.counts_text(ctx)

    @friendly
    def on_agreement():
        return rt.agreement_rows(ctx)

    def choices():
        return (
            gr.Dropdown(choices=method_choices(ctx)),
            gr.Dropdown(choices=job_choices(ctx)),
            gr.Dropdown(choices=[("none", "")] + run_choices(ctx.store)),
            gr.Dropdown(choices=tag_choices(ctx)),
            gr.Dropdown(choices=scorer_choices(ctx)),
            gr.Dropdown(choices=sort_choices(ctx)),
            gr.Dropdown(choices=ctx.store.list_views()),
        )

    def refresh():  # page load: the widgets hold their defaults, so the queue uses them too
        defaults = (ANY, ANY, ANY, "pending", ANY, ANY, "", "", "", "id")
        return (*choices(), *load_queue(ctx, defaults, ""))

    choice_outputs = [method, job, run, tag, scorer, sort, views]
    refresh_outputs = [*choice_outputs, *queue_outputs]
    # Choices apply at once; typed score bounds on Enter (not on every key).
    picked = [w.input for w in filters if w is not low and w is not high]
    gr.on(
        [*picked, low.submit, high.submit], on_filter, [*filters, run], queue_outputs,
        api_name="review_filter",
    )  # fmt: skip
    reload_btn.click(on_filter, [*filters, run], queue_outputs, api_name="review_load_queue")
    sample_id.submit(on_open, [queue_state, sample_id, run], state_view, api_name="review_show")
    run.input(on_run, [sample_id, run], images["ig"], api_name="review_run")
    prev_btn.click(on_step(-1), [queue_state, run], state_view, api_name="review_prev")
    next_btn.click(on_step(+1), [queue_state, run], state_view, api_name="review_next")
    for btn, decision in ((accept_btn, "accept"), (reject_btn, "reject")):
        btn.click(
            on_decide(decision),
            [queue_state, sample_id, run, reason],
            state_view,
            api_name=f"review_{decision}",
        )
    undo_btn.click(on_undo, [queue_state, sample_id, run], state_view, api_name="review_undo")
    ig_btn.click(
        on_attribute,
        [sample_id, run],
        [images["ig"], scores],
        api_name="review_attribution",
        concurrency_limit=1,
        concurrency_id="attribution",
    )
    for btn, act in ((tag_btn, "tag"), (untag_btn, "untag")):
        btn.click(
            on_tag(act),
            [queue_state, sample_id, run, tags, reason],
            [tag_note, *state_view],
            api_name=f"review_{act}",
        )
    bulk_btn.click(
        on_bulk,
        [*filters, action, confirm, reason],
        [bulk_note, *queue_outputs],
        api_name="review_bulk",
    )
    page_outputs = [grid, grid_note, page]
    grid_prev.click(on_page(-1), [queue_state, grid, page], page_outputs,
                    api_name="review_grid_prev")  # fmt: skip
    grid_next.click(on_page(+1), [queue_state, grid, page], page_outputs,
                    api_name="review_grid_next")  # fmt: skip
    page.submit(on_page(0), [queue_state, grid, page], page_outputs, api_name="review_grid_page")
    for act, btn in grid_buttons.items():
        btn.click(
            on_grid(act),
            [queue_state, grid, tags, reason, grid_confirm, sample_id, run],
            [grid_action_note, grid, grid_note, grid_confirm, *state_view],
            api_name=f"review_grid_{act}",
        )
    save_view_btn.click(
        on_save_view, [view_name, *filters], [view_note, views], api_name="review_save_view"
    )
    load_view_btn.click(
        on_load_view, views, [*choice_outputs, *filters], api_name="review_load_view"
    ).success(on_filter, [*filters, run], queue_outputs, api_name="review_view_queue")
    export_btn.click(
        on_export, [export_status, export_generated], export_out, api_name="review_export",
        concurrency_limit=1, concurrency_id="export",
    )  # fmt: skip
    import_btn.click(on_import, import_in, [import_note, counts], api_name="review_import")
    agree_btn.click(on_agreement, None, [agree_table, agree_note], api_name="review_agreement")
    tab.select(choices, None, choice_outputs, api_name="review_open").then(
        on_filter, [*filters, run], queue_outputs, api_name="review_open_queue"
    )
    return TabView("review", refresh, refresh_outputs)


if __name__ == "__main__":
    from ui.launch import run_tab

    run_tab("Review", render)
