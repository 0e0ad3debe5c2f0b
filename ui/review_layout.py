"""The Review tab's widgets in page order, gathered into dataclasses; no listeners here.

ui/review.py builds a `ReviewPage` inside its tab and wires the listeners to its fields, so the
layout reads top to bottom here and the wiring reads by feature there.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from debias_core.analysis.selection import CONFIRM_ABOVE
from ui import review_grid as rg
from ui import review_queue as rq
from ui import review_tools as rt
from ui import review_view as rv
from ui.common import ANY, checked, group_choices, run_choices
from ui.state import AppContext


@dataclass
class Filters:
    """What the queue shows: the ten filters (sent as `values()`) and the IG run."""

    method: gr.Dropdown
    group: gr.Dropdown
    job: gr.Dropdown
    status: gr.Dropdown
    run: gr.Dropdown
    tag: gr.Dropdown
    verdict: gr.Dropdown
    scorer: gr.Dropdown
    low: gr.Textbox
    high: gr.Textbox
    sort: gr.Dropdown
    reading: gr.Dropdown

    def values(self) -> list:
        """The filters in the order `review_view.queue_filter` takes them."""
        return [self.method, self.group, self.job, self.status, self.tag, self.verdict,
                self.scorer, self.low, self.high, self.sort, self.reading]  # fmt: skip


@dataclass
class SavedViews:
    name: gr.Textbox
    save: gr.Button
    views: gr.Dropdown
    load: gr.Button
    note: gr.Markdown


@dataclass
class Single:
    """One sample at a time: its images, the decision buttons, its evidence and the bulk row."""

    images: dict[str, gr.Image]
    prev: gr.Button
    accept: gr.Button
    reject: gr.Button
    undo: gr.Button
    next: gr.Button
    ig: gr.Button
    tag: gr.Button
    untag: gr.Button
    tag_note: gr.Markdown
    evidence: gr.Markdown
    scores: gr.Dataframe
    recipe: gr.JSON
    sample_id: gr.Number
    reload: gr.Button
    action: gr.Radio
    confirm: gr.Checkbox
    bulk: gr.Button
    bulk_note: gr.Markdown


@dataclass
class Grid:
    note: gr.Markdown
    grid: gr.HTML
    prev: gr.Button
    page: gr.Number
    next: gr.Button
    confirm: gr.Checkbox
    buttons: dict[str, gr.Button]
    action_note: gr.Markdown


@dataclass
class Curation:
    """Export of curation as a zip, import of a decisions CSV."""

    export_status: gr.Radio
    export_generated: gr.Checkbox
    export: gr.Button
    export_out: gr.File
    import_in: gr.File
    import_unchecked: gr.Checkbox
    import_btn: gr.Button
    import_note: gr.Markdown


@dataclass
class Agreement:
    button: gr.Button
    note: gr.Markdown
    table: gr.Dataframe


@dataclass
class ReviewPage:
    queue: gr.State
    filters: Filters
    saved: SavedViews
    head: gr.Markdown
    counts: gr.Markdown
    tags: gr.Textbox
    reason: gr.Textbox
    single: Single
    grid: Grid
    curation: Curation
    agreement: Agreement


def build_page(ctx: AppContext) -> ReviewPage:
    """Every widget of the tab, in page order (call inside the tab's `gr.Tab`)."""
    queue = gr.State(rv.Queue())
    filters = filter_rows(ctx)
    saved = saved_views(ctx)
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
            single = single_view()
        with gr.Tab("Grid", id="review-grid-tab"):
            grid = grid_view()
    curation = curation_panel()
    agreement = agreement_panel()
    return ReviewPage(
        queue, filters, saved, head, counts, tags, reason, single, grid, curation, agreement
    )


def filter_rows(ctx: AppContext) -> Filters:
    with gr.Row(equal_height=True):
        method = gr.Dropdown(
            rq.method_choices(ctx), value=ANY, label="Method", elem_id="review-method"
        )
        group = gr.Dropdown(
            [("any", ANY), *group_choices(ctx.store)],
            value=ANY,
            label="Group",
            elem_id="review-group",
        )
        job = gr.Dropdown(rq.job_choices(ctx), value=ANY, label="Job", elem_id="review-job")
        status = gr.Dropdown(rv.STATUSES, value="pending", label="Status", elem_id="review-status")
        run = gr.Dropdown(
            [("none", "")] + run_choices(ctx.store),
            value="",
            label="IG run",
            elem_id="review-run",
        )
    with gr.Row(equal_height=True):
        tag = gr.Dropdown(rq.tag_choices(ctx), value=ANY, label="Tag", elem_id="review-tag")
        verdict = gr.Dropdown(
            rv.VERDICT_CHOICES, value=ANY, label="Policy verdict", elem_id="review-verdict"
        )
        scorer = gr.Dropdown(
            rq.scorer_choices(ctx), value="", label="Score", elem_id="review-scorer"
        )
        # Text, not Number: an empty Number reaches the handler as 0, not as "no bound".
        low = gr.Textbox("", label="Score min", placeholder="no bound", elem_id="review-score-min")
        high = gr.Textbox("", label="Score max", placeholder="no bound", elem_id="review-score-max")
        sort = gr.Dropdown(rq.sort_choices(ctx), value="id", label="Sort", elem_id="review-sort")
        # 'disputed': a judge reads another group than the recorded one (stats and training set
        # these aside until a person accepts them)
        reading = gr.Dropdown(
            rv.READING_CHOICES, value=ANY, label="Judge reading", elem_id="review-reading"
        )
    return Filters(method, group, job, status, run, tag, verdict, scorer, low, high, sort, reading)


def saved_views(ctx: AppContext) -> SavedViews:
    with gr.Accordion("Saved views", open=False):
        with gr.Row(equal_height=True):
            name = gr.Textbox(label="Name", scale=2, elem_id="review-view-name")
            save = gr.Button("Save filter as view", elem_id="review-view-save")
            views = gr.Dropdown(
                ctx.store.list_views(), value=None, label="Saved views", scale=2,
                elem_id="review-views",
            )  # fmt: skip
            load = gr.Button("Load view", elem_id="review-view-load")
        note = gr.Markdown(elem_id="review-view-note")
    return SavedViews(name, save, views, load, note)


def single_view() -> Single:
    with gr.Row(elem_id="review-images"):
        images = {
            name: gr.Image(label=label, type="filepath", interactive=False,
                           height=230, elem_id=f"review-img-{name}")
            for name, label in rq.IMAGE_LABELS.items()
        }  # fmt: skip
    with gr.Row():
        prev = gr.Button("◀ Prev (k)", elem_id="review-prev", min_width=90)
        accept = gr.Button("Accept (a)", variant="primary", elem_id="review-accept", min_width=90)
        reject = gr.Button("Reject (r)", variant="stop", elem_id="review-reject", min_width=90)
        undo = gr.Button("Undo (z)", elem_id="review-undo", min_width=90)
        next_ = gr.Button("Next (j) ▶", elem_id="review-next", min_width=90)
        ig = gr.Button("Attribution (i)", elem_id="review-ig", min_width=90)
        tag = gr.Button("Tag", elem_id="review-tag-btn", min_width=90)
        untag = gr.Button("Un-tag", elem_id="review-untag-btn", min_width=90)
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
        reload = gr.Button("Load queue", elem_id="review-load")
        action = gr.Radio(["accept", "reject"], value="accept", label="Bulk action")
        confirm = gr.Checkbox(
            label="Yes, apply to all samples of this filter", elem_id="review-bulk-confirm"
        )
        bulk = gr.Button("Apply to filtered", variant="stop", elem_id="review-bulk")
    bulk_note = gr.Markdown(elem_id="review-bulk-note")
    return Single(images, prev, accept, reject, undo, next_, ig, tag, untag, tag_note, evidence,
                  scores, recipe, sample_id, reload, action, confirm, bulk, bulk_note)  # fmt: skip


def grid_view() -> Grid:
    note = gr.Markdown(elem_id="review-grid-info")
    grid = gr.HTML(
        rg.empty_grid(), html_template=rg.GRID_HTML, css_template=rg.GRID_CSS,
        js_on_load=rg.GRID_JS, elem_id="review-grid",
    )  # fmt: skip
    with gr.Row(equal_height=True):
        prev = gr.Button("◀ Page", size="sm", elem_id="review-grid-prev")
        page = checked(gr.Number(1, label="Grid page", precision=0, minimum=1,
                                 elem_id="review-grid-page"))  # fmt: skip
        next_ = gr.Button("Page ▶", size="sm", elem_id="review-grid-next")
        confirm = gr.Checkbox(
            label=f"Confirm (needed above {CONFIRM_ABOVE} samples)",
            elem_id="review-grid-confirm",
        )
    with gr.Row():
        buttons = {
            "accept": gr.Button("Accept selected (a)", variant="primary",
                                elem_id="review-grid-accept"),
            "reject": gr.Button("Reject selected (r)", variant="stop",
                                elem_id="review-grid-reject"),
            "tag": gr.Button("Tag selected", elem_id="review-grid-tag"),
            "untag": gr.Button("Un-tag selected", elem_id="review-grid-untag"),
        }  # fmt: skip
    action_note = gr.Markdown(elem_id="review-grid-note")
    return Grid(note, grid, prev, page, next_, confirm, buttons, action_note)


def curation_panel() -> Curation:
    with gr.Accordion("Export and import curation", open=False):
        with gr.Row(equal_height=True):
            export_status = gr.Radio(
                rt.EXPORT_STATUSES, value="accepted", label="Generated samples to export"
            )
            export_generated = gr.Checkbox(True, label="Include generated samples")
            export = gr.Button("Export zip", elem_id="review-export")
            export_out = gr.File(label="Export", interactive=False, elem_id="review-export-file")
        with gr.Row(equal_height=True):
            import_in = gr.File(
                label="Curation CSV (sample_id, sha256, status, tags, reason)",
                file_types=[".csv"], type="filepath", elem_id="review-import-file",
            )  # fmt: skip
            import_unchecked = gr.Checkbox(
                False, label="without sha256 check (a file with no sha256 column)",
                elem_id="review-import-unchecked",
            )  # fmt: skip
            import_btn = gr.Button("Import decisions and tags", elem_id="review-import")
        import_note = gr.Markdown(elem_id="review-import-note")
    return Curation(
        export_status, export_generated, export, export_out, import_in, import_unchecked,
        import_btn, import_note,
    )  # fmt: skip


def agreement_panel() -> Agreement:
    with gr.Accordion("Policy agreement with people", open=False):
        button = gr.Button("Compute agreement", size="sm", elem_id="review-agree")
        note = gr.Markdown(elem_id="review-agree-note")
        table = gr.Dataframe(
            headers=rt.AGREEMENT_HEADERS, value=[], interactive=False,
            label="Confusion matrix (rows: person, columns: policy) and Cohen's kappa",
        )  # fmt: skip
    return Agreement(button, note, table)
