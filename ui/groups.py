"""Groups tab: (class, context) groups with their counts, and a paginated thumbnail gallery.

Run alone: python -m ui.groups --project DIR
"""

from __future__ import annotations

import math

import gradio as gr

from debias_core.analysis.attribution import thumbnail_path
from debias_core.analysis.group_figures import group_counts_figure
from debias_core.bias.stats import (
    PAIR_COLUMNS,
    TABLE_COLUMNS,
    bias_summary,
    group_stats,
    pair_rows,
    pair_table_row,
)
from debias_core.data.world_split import leak_warning
from debias_core.store import SampleFilter
from ui.common import TabView, as_int, checked, friendly, group_choices, parse_group
from ui.jobs import PANEL_EVENT, poll, render_jobs
from ui.state import AppContext

PAGE_SIZE = 60  # the gallery is not virtualised: keep pages small (<= 100)
THUMB_SIZE = 96
HEADERS = TABLE_COLUMNS
SOURCES = [
    ("real", "real"),
    ("generated · accepted", "accepted"),
    ("generated · pending", "pending"),
    ("generated · rejected", "rejected"),
    ("generated · any status", "generated"),
]
SPLITS = ["any", "train", "val", "test"]
PAIRS_KIND = "bias-pairs"
MAX_EPOCHS = 10_000


def stats_view(ctx: AppContext) -> tuple[str, list[list]]:
    """(summary line, one table row per group)."""
    stats = group_stats(ctx.store)
    s = bias_summary(stats)
    counts = ctx.store.curation_counts()
    summary = (
        f"**{s['train_samples']}** real train images, **{s['aligned_fraction']:.1%}** in "
        f"bias-aligned groups; rarest group: **{s['rarest_group']}** ({s['rarest_count']}). "
        f"Generated: {counts['accepted']} accepted, {counts['pending']} pending, "
        f"{counts['rejected']} rejected. Click a row to open its images."
    )
    aside = sum(g.generated_set_aside for g in stats)
    if aside:
        summary += (
            f" **{aside}** generated images set aside: a judge reads them in another group than "
            "the one they are recorded in (Review shows both)."
        )
    warning = leak_warning(ctx.store.meta())
    if warning:  # a project drawn before the world / task split was fixed to the models' build
        summary = f"⚠️ **Results may be optimistic:** {warning}\n\n{summary}"
    rows = [g.table_row() for g in stats]
    return summary, rows


def pairs_view(ctx: AppContext) -> tuple[str, list[list]]:
    """(a line on where the pairs come from, one table row per biased pair)."""
    if not ctx.store.is_multilabel():
        return "Single-label project: biased pairs are for multi-label data (label sets).", []
    rows = pair_rows(ctx.store)
    if not rows:
        note = "No biased pairs yet: find them below."
    elif rows[0]["source"] == "measured":
        note = (
            f"**{len(rows)}** biased (object, context) pairs by Singh et al.'s bias score: mean "
            "score of b with c over without c, from a standard multi-label classifier."
        )
    else:
        note = (
            f"**{len(rows)}** pairs as the dataset was built; not measured yet (find them below "
            "to rank them by a classifier's bias score)."
        )
    return note, [pair_table_row(r) for r in rows]


def submit_pairs(ctx: AppContext, k, epochs) -> tuple:
    """Queue a bias-pairs job (k empty: the default)."""
    params = {"epochs": as_int(epochs, "epochs", 1, MAX_EPOCHS)}
    if k not in (None, ""):
        params["k"] = as_int(k, "K", 1, 1000)
    job_id = ctx.executor.submit(PAIRS_KIND, params)
    return (f"Queued bias-pairs job **{job_id}**.",) + poll(ctx, PAIRS_KIND)


def sample_filter(group: str, source: str, split: str) -> SampleFilter:
    parsed = parse_group(group)
    if parsed is None:
        raise ValueError("choose a group first")
    y, a = parsed
    if source not in {value for _, value in SOURCES}:
        raise ValueError(f"source must be one of {[v for _, v in SOURCES]}, got {source!r}")
    if source == "real":
        return SampleFilter(source="real", y=y, a=a, split=None if split == "any" else split)
    status = None if source == "generated" else source
    return SampleFilter(source="generated", y=y, a=a, status=status)


def gallery_page(ctx: AppContext, group: str, source: str, split: str, page) -> tuple:
    """(thumbnail paths with captions, page info, the page number actually shown)."""
    where = sample_filter(group, source, split)
    total = ctx.store.count_samples(where)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(as_int(page or 1, "page"), 1), pages)
    samples = ctx.store.list_samples(where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    items = [
        (str(thumbnail_path(ctx.store, s, THUMB_SIZE)), f"#{s.id} · {s.split}") for s in samples
    ]
    first = (page - 1) * PAGE_SIZE + 1 if total else 0
    info = f"{total} images · page {page} / {pages} · showing {first}-{first + len(samples) - 1}"
    return items, info if total else "No images in this selection.", page


def render(ctx: AppContext) -> TabView:
    with gr.Tab("Groups", id="groups") as tab:
        summary = gr.Markdown()
        table = gr.Dataframe(headers=HEADERS, value=[], interactive=False, label="Groups")
        with gr.Accordion("Images per group (chart)", open=True):
            chart = gr.Plot(show_label=False, elem_id="groups-chart")
        with gr.Row(equal_height=True):
            group = gr.Dropdown(
                group_choices(ctx.store), value=None, label="Group", elem_id="groups-group"
            )
            source = gr.Dropdown(SOURCES, value="real", label="Images", elem_id="groups-source")
            split = gr.Dropdown(SPLITS, value="any", label="Split (real)", elem_id="groups-split")
            page = checked(
                gr.Number(1, label="Page", precision=0, minimum=1, elem_id="groups-page")
            )
        with gr.Row():
            prev_btn = gr.Button("◀ Previous page", elem_id="groups-prev", size="sm")
            next_btn = gr.Button("Next page ▶", elem_id="groups-next", size="sm")
        info = gr.Markdown(elem_id="groups-info")
        gallery = gr.Gallery(
            label="Images",
            columns=10,
            height=560,
            object_fit="contain",
            interactive=False,
            elem_id="groups-gallery",
        )

        with gr.Accordion("Biased pairs (multi-label data)", open=ctx.store.is_multilabel()):
            pairs_note = gr.Markdown(elem_id="groups-pairs-note")
            pairs_table = gr.Dataframe(
                headers=PAIR_COLUMNS,
                value=[],
                interactive=False,
                label="Biased pairs",
                elem_id="groups-pairs",
            )
            with gr.Row(equal_height=True):
                pairs_k = checked(
                    gr.Number(
                        None, label="K (pairs kept; empty: 20, or the dataset's design)",
                        precision=0, minimum=1, maximum=1000, elem_id="groups-pairs-k",
                    )
                )  # fmt: skip
                pairs_epochs = checked(
                    gr.Number(
                        12, label="Epochs of the standard classifier", precision=0, minimum=1,
                        maximum=MAX_EPOCHS, elem_id="groups-pairs-epochs",
                    )
                )  # fmt: skip
                pairs_btn = gr.Button(
                    "Find biased pairs", variant="primary", elem_id="groups-pairs-submit"
                )
            pairs_msg = gr.Markdown(elem_id="groups-pairs-msg")
            pairs_panel = render_jobs(ctx, PAIRS_KIND)

    def refresh():
        chart_value = group_counts_figure(group_stats(ctx.store))
        return (
            *stats_view(ctx),
            chart_value,
            gr.Dropdown(choices=group_choices(ctx.store)),
            *pairs_view(ctx),
        )

    def first_view():  # page load: open the rarest group so the page is not empty
        stats = group_stats(ctx.store)
        if not stats:
            return (*refresh(), [], "This project has no samples.", 1)
        rarest = min(stats, key=lambda g: g.train)
        value = f"{rarest.y},{rarest.a}"
        summary, rows = stats_view(ctx)
        choices = gr.Dropdown(choices=group_choices(ctx.store), value=value)
        figure = group_counts_figure(stats)
        pairs = pairs_view(ctx)
        return (summary, rows, figure, choices, *pairs, *gallery_page(ctx, value, "real", "any", 1))

    @friendly
    def show(group, source, split, page):
        return gallery_page(ctx, group, source, split, page)

    def step(delta: int):
        def move(group, source, split, page):
            return show(group, source, split, as_int(page or 1, "page") + delta)

        return move

    def first_page(group, source, split):
        return show(group, source, split, 1)

    def open_row(evt: gr.SelectData):
        row = getattr(evt, "row_value", None)
        if not row:
            raise gr.Error("click a row of the groups table")
        return f"{int(row[0])},{int(row[1])}", "real", 1

    @friendly
    def do_pairs(k, epochs):
        return submit_pairs(ctx, k, epochs)

    def pairs_after_poll():
        return pairs_view(ctx)

    view_inputs = [group, source, split, page]
    view_outputs = [gallery, info, page]
    refresh_outputs = [summary, table, chart, group, pairs_note, pairs_table]
    pairs_btn.click(
        do_pairs,
        [pairs_k, pairs_epochs],
        [pairs_msg, *pairs_panel.outputs],
        api_name="groups_pairs_submit",
        **PANEL_EVENT,
        concurrency_limit=1,
    )
    # After each poll, so pairs a job just stored are shown.
    pairs_panel.polled.then(
        pairs_after_poll, None, [pairs_note, pairs_table], api_name="groups_pairs_after_poll"
    )
    tab.select(refresh, None, refresh_outputs, api_name="groups_open")
    # Selection events carry browser-only event data: private (the client opens a group with
    # groups_filter instead); the browser test clicks them.
    table.select(
        open_row, None, [group, source, page], api_name="groups_pick_row", api_visibility="private"
    ).then(show, view_inputs, view_outputs, api_name="groups_pick_row_page")
    gr.on(
        [group.input, source.input, split.input],
        first_page,
        [group, source, split],
        view_outputs,
        api_name="groups_filter",
    )
    page.submit(show, view_inputs, view_outputs, api_name="groups_page")
    prev_btn.click(step(-1), view_inputs, view_outputs, api_name="groups_prev")
    next_btn.click(step(+1), view_inputs, view_outputs, api_name="groups_next")
    return TabView("groups", first_view, [*refresh_outputs, *view_outputs])


if __name__ == "__main__":
    from ui.launch import run_tab

    run_tab("Groups", render)
