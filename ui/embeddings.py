"""Embeddings tab: a WebGL scatter (PCA, UMAP as a job) whose lasso fills a grid below.

The first open of a feature space with no vectors starts its embed job; the PCA follows it.

Points are real and generated samples in a feature space (the embedded CLIP by default), coloured
by status / source / method / job / class / context / group / tag / verdict, with a thumbnail on
hover. A lasso or box selection loads its samples into a multi-select grid (200 a page); ticking
tiles highlights their points; accept / reject / tag / un-tag act on the ticked samples as
ordinary append-only decisions (a confirmation above 20). plotly.js is served from the installed
plotly package, never from a CDN.
Run alone: python -m ui.embeddings --project DIR
"""

from __future__ import annotations

import gradio as gr

from debias_core.analysis.selection import CONFIRM_ABOVE
from ui import embeddings_view as ev
from ui.common import TabView, as_int, checked, friendly
from ui.embeddings_html import GRID_CSS, GRID_HTML, GRID_JS, PLOT_CSS, PLOT_HTML, PLOT_JS, PLOTLY_JS
from ui.jobs import poll, render_jobs
from ui.state import AppContext
from ui.tiles import file_url


def render(ctx: AppContext) -> TabView:
    # plotly.js from the installed package: only this one file becomes servable.
    gr.set_static_paths([str(PLOTLY_JS)])

    def thumbnail(sample_id):  # called from the page's script as server.thumbnail(id)
        return ev.hover_thumbnail(ctx, sample_id)

    with gr.Tab("Embeddings", id="embeddings") as tab:
        with gr.Row(equal_height=True):
            features = gr.Dropdown(
                ev.feature_choices(ctx), value="clip", label="Features", elem_id="emb-features"
            )
            method = gr.Radio(
                [("PCA", "pca"), ("UMAP", "umap")], value="pca", label="Projection",
                elem_id="emb-method",
            )  # fmt: skip
            colour_by = gr.Dropdown(
                list(ev.COLOUR_BY), value="status", label="Colour by", elem_id="emb-colour"
            )
            with gr.Column(scale=1, min_width=160):
                embed_btn = gr.Button("Compute embeddings", size="sm", elem_id="emb-embed")
                umap_btn = gr.Button("Compute UMAP", size="sm", elem_id="emb-umap")
        info = gr.Markdown(elem_id="emb-info")
        projection_id = gr.State(None)
        plot = gr.HTML(
            {"kind": "empty", "message": "Open the tab to load the view."},
            html_template=PLOT_HTML,
            css_template=PLOT_CSS,
            js_on_load=PLOT_JS,
            head=f'<script src="{file_url(PLOTLY_JS)}"></script>',
            elem_id="emb-plot",
            server_functions=[thumbnail],
        )
        with gr.Row(equal_height=True):
            typed_ids = gr.Textbox(
                label="Select by ids", placeholder="e.g. 12, 40, 41", scale=3, elem_id="emb-ids"
            )
            select_btn = gr.Button("Select", scale=1, size="sm", elem_id="emb-select")
            page = checked(gr.Number(1, label="Grid page", precision=0, minimum=1, scale=1,
                                     elem_id="emb-page"))  # fmt: skip
            prev_btn = gr.Button("◀ Page", scale=1, size="sm", elem_id="emb-prev")
            next_btn = gr.Button("Page ▶", scale=1, size="sm", elem_id="emb-next")
        grid_note = gr.Markdown(ev.grid_info(None), elem_id="emb-grid-info")
        grid = gr.HTML(
            {"ids": [], "items": [], "unchecked": [], "page": 1, "pages": 1},
            html_template=GRID_HTML,
            css_template=GRID_CSS,
            js_on_load=GRID_JS,
            elem_id="emb-grid",
        )
        with gr.Row(equal_height=True):
            tags = gr.Textbox(label="Tags (comma separated)", scale=2, elem_id="emb-tags")
            reason = gr.Textbox(label="Reason (optional)", scale=2, elem_id="emb-reason")
            confirm = gr.Checkbox(
                label=f"Confirm (needed above {CONFIRM_ABOVE} samples)", elem_id="emb-confirm"
            )
        with gr.Row():
            buttons = {
                "accept": gr.Button("Accept ticked", variant="primary", elem_id="emb-accept"),
                "reject": gr.Button("Reject ticked", variant="stop", elem_id="emb-reject"),
                "tag": gr.Button("Tag ticked", elem_id="emb-tag"),
                "untag": gr.Button("Un-tag ticked", elem_id="emb-untag"),
            }
        note = gr.Markdown(elem_id="emb-note")
        # Not in a closed accordion: its timers would not be mounted, so nothing would poll.
        with gr.Row():
            with gr.Column():
                embed_jobs = render_jobs(ctx, "embed")
            with gr.Column():
                umap_jobs = render_jobs(ctx, "umap")

    # -- handlers: each calls one view / core function ------------------------------------------
    def grid_state(value) -> dict:
        """The grid's value as the page sends it (a client may send anything)."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError(f"the grid's value must be an object, got {value!r}")
        return value

    @friendly
    def show(features, method, colour_by, shown):
        view = ev.plot_view(ctx, features, method, colour_by, shown)
        return view.payload, view.info, view.payload.get("projection_id")

    @friendly
    def open_tab(features, method, colour_by, shown):
        view = ev.plot_view(ctx, features, method, colour_by, shown, start=True)
        return view.payload, view.info, view.payload.get("projection_id")

    @friendly
    def on_colour(projection_id, colour_by):
        return ev.recolour(ctx, projection_id, colour_by)

    @friendly
    def select(ids, page=1, unchecked=(), request=None):
        value = ev.grid_value(ctx, ids, page, unchecked)
        ticked = set(value["ids"]) - set(value.get("unchecked") or ())
        ctx.remember_selection(ctx.reviewer_for(request), sorted(ticked))  # for Personalize
        return value, ev.grid_info(value), value["page"]

    def on_lasso(evt: gr.EventData, request: gr.Request):
        data = getattr(evt, "_data", None) or {}
        return select(data.get("ids", []), request=request)

    @friendly
    def on_typed(text, request: gr.Request):
        return select(ev.parse_ids(text), request=request)

    def on_page(delta: int):
        @friendly
        def move(value, page, request: gr.Request):
            value = grid_state(value)
            page = as_int(1 if page is None else page, "grid page", 1)
            return select(value.get("ids", []), page + delta, value.get("unchecked"), request)

        return move

    def on_action(action: str):
        @friendly
        def run(value, tags, reason, confirmed, projection_id, colour_by, request: gr.Request):
            result = ev.act(ctx, value, action, tags, reason, confirmed, ctx.reviewer_for(request))
            value = value or {}
            fresh = ev.grid_value(
                ctx, value.get("ids", []), value.get("page"), value.get("unchecked")
            )
            colours = ev.recolour(ctx, projection_id, colour_by)
            return result.message(), fresh, ev.grid_info(fresh), colours, False

        return run

    @friendly
    def submit(kind: str, features):
        params = {"features": features}
        job_id = ctx.executor.submit(kind, params)
        return f"Queued {kind} job {job_id} for `{features}`; progress below."

    def refresh():  # page load: only the cheap parts (the view loads when the tab opens)
        return gr.Dropdown(choices=ev.feature_choices(ctx)), *poll(ctx, "embed"), *poll(ctx, "umap")

    view_inputs = [features, method, colour_by, projection_id]
    view_outputs = [plot, info, projection_id]
    grid_outputs = [grid, grid_note, page]
    quiet = dict(show_progress="hidden", api_visibility="private")  # page plumbing, not API
    # Opening the tab may start the first embed job: poll so its panel follows it, and draw
    # at once if it was done before that first poll (the timer then never ticks).
    tab.select(open_tab, view_inputs, view_outputs, api_name="embeddings_open").then(
        lambda: poll(ctx, "embed"), None, embed_jobs.outputs, api_name="embeddings_open_watch",
        **quiet,
    ).then(
        _first_view(ctx), view_inputs, view_outputs, api_name="embeddings_open_shown", **quiet
    )  # fmt: skip
    gr.on(
        [features.input, method.input], show, view_inputs, view_outputs, api_name="embeddings_view"
    )
    colour_by.input(on_colour, [projection_id, colour_by], plot, api_name="embeddings_colour")
    # The lasso's ids come as browser event data (private); clients use embeddings_select.
    plot.select(on_lasso, None, grid_outputs, api_name="embeddings_lasso", api_visibility="private")
    gr.on(
        [select_btn.click, typed_ids.submit],
        on_typed,
        typed_ids,
        grid_outputs,
        api_name="embeddings_select",
    )
    prev_btn.click(on_page(-1), [grid, page], grid_outputs, api_name="embeddings_prev_page")
    next_btn.click(on_page(+1), [grid, page], grid_outputs, api_name="embeddings_next_page")
    page.submit(on_page(0), [grid, page], grid_outputs, api_name="embeddings_page")
    for action, button in buttons.items():
        button.click(
            on_action(action),
            [grid, tags, reason, confirm, projection_id, colour_by],
            [note, grid, grid_note, plot, confirm],
            api_name=f"embeddings_{action}",
        )
    for kind, button, panel in (("embed", embed_btn, embed_jobs), ("umap", umap_btn, umap_jobs)):
        reload = _reloader(ctx, kind)
        button.click(
            lambda features, kind=kind: submit(kind, features),
            features,
            note,
            api_name=f"embeddings_{kind}_submit",
        ).then(
            lambda kind=kind: poll(ctx, kind),
            None,
            panel.outputs,
            api_name=f"embeddings_{kind}_watch",
            **quiet,
        ).then(  # a short job may be done before the first poll: then show it now
            reload, view_inputs, view_outputs, api_name=f"embeddings_{kind}_shown", **quiet
        )
        # When a job ends, show its result (the timer stops polling then).
        panel.polled.then(
            reload, view_inputs, view_outputs, api_name=f"embeddings_{kind}_reload", **quiet
        )
    return TabView("embeddings", refresh, [features, *embed_jobs.outputs, *umap_jobs.outputs])


def _reloader(ctx: AppContext, kind: str):
    def reload(features, method, colour_by, shown):
        return _reload_if_finished(ctx, kind, features, method, colour_by, shown)

    return reload


def _first_view(ctx: AppContext):
    def first_view(features, method, colour_by, shown):
        if shown not in (None, ""):  # a view is drawn already
            return gr.skip(), gr.skip(), gr.skip()
        return _reload_if_finished(ctx, "embed", features, method, colour_by, shown)

    return first_view


def _reload_if_finished(ctx: AppContext, kind: str, features, method, colour_by, shown):
    """After a poll: redraw once the newest job of this kind has just finished, else keep."""
    jobs = [j for j in ctx.store.list_jobs(limit=20) if j.kind == kind]
    if not jobs or not jobs[0].finished:
        return gr.skip(), gr.skip(), gr.skip()
    try:
        view = ev.plot_view(ctx, features, method, colour_by, shown)
    except ValueError:
        return gr.skip(), gr.skip(), gr.skip()
    return view.payload, view.info, view.payload.get("projection_id")


if __name__ == "__main__":
    from ui.launch import run_tab

    run_tab("Embeddings", render)
