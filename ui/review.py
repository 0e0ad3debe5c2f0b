"""Review tab: a filtered queue of generated samples; accept / reject / undo with hotkeys.

Every decision is written to the store before the reply (append-only rows with reviewer and
time). Keys: a accept, r reject, z undo, j / → next, k / ← previous, i attribution.
Run alone: python -m ui.review --project DIR
"""

from __future__ import annotations

import gradio as gr

from debias_core.generate import GENERATORS
from ui import review_view as rv
from ui.common import ANY, TabView, as_bool, checked, friendly, group_choices, run_choices
from ui.state import AppContext

# Clicks the button for a key, unless the key is typed into a field or the tab is hidden.
HOTKEYS_JS = """<script>
document.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
  const t = e.target, tag = (t && t.tagName || '').toLowerCase();
  if (['input', 'textarea', 'select'].includes(tag) || (t && t.isContentEditable)) return;
  const ids = {a: 'review-accept', r: 'review-reject', z: 'review-undo', j: 'review-next',
    k: 'review-prev', ArrowRight: 'review-next', ArrowLeft: 'review-prev', i: 'review-ig'};
  const el = document.getElementById(ids[e.key]);
  if (!el || el.offsetParent === null) return;
  const btn = el.tagName === 'BUTTON' ? el : el.querySelector('button');
  if (btn && !btn.disabled) { e.preventDefault(); btn.click(); }
});
</script>"""


def method_choices(ctx: AppContext) -> list[str]:
    return [ANY, *sorted(set(GENERATORS.names()) | set(ctx.store.recipe_methods()))]


def job_choices(ctx: AppContext) -> list[tuple[str, str]]:
    jobs = [j for j in ctx.store.list_jobs(limit=200) if j.kind == "generate"]
    return [("any", ANY)] + [(f"#{j.id} ({j.status})", str(j.id)) for j in jobs]


def to_updates(values: tuple) -> tuple:
    """Captions travel as widget labels."""
    sid, head, (ref, ref_cap), gen, mask, (ig, ig_cap), scores, recipe, counts = values
    return (
        sid,
        head,
        gr.Image(ref, label=ref_cap or "Reference"),
        gen,
        gr.Image(mask, label="Mask overlay" if mask else "No mask for this sample"),
        gr.Image(ig, label=ig_cap or "Integrated Gradients"),
        scores,
        recipe,
        counts,
    )


def show(ctx: AppContext, queue: rv.Queue, sample_id, run) -> tuple:
    if sample_id is None:
        return (queue, *to_updates(rv.empty_outputs(ctx, "The queue is empty.")))
    return (
        queue,
        *to_updates(rv.sample_outputs(ctx, rv.generated_sample(ctx, sample_id), queue, run)),
    )


def load_queue(ctx, method, group, job, status, run) -> tuple:
    queue = rv.build_queue(ctx, method, group, job, status)
    n = len(queue.ids)
    confirm = gr.Checkbox(value=False, label=f"Yes, apply to all {n} samples of this filter")
    return (*show(ctx, queue, queue.current(), run), confirm)


def decide(ctx: AppContext, decision: str, queue: rv.Queue, sample_id, run, request=None) -> tuple:
    sample = rv.generated_sample(ctx, sample_id)
    ctx.store.decide([sample.id], decision, ctx.reviewer_for(request))
    queue.last = sample.id
    queue.go_to(sample.id)
    return show(ctx, queue, queue.step(+1) if sample.id in queue.ids else sample.id, run)


def undo(ctx: AppContext, queue: rv.Queue, sample_id, run, request=None) -> tuple:
    """Revert this browser's last decision (or the shown sample's) and go back to it."""
    target = rv.generated_sample(ctx, queue.last if queue.last is not None else sample_id)
    if ctx.store.status_of(target.id) == "pending":  # no decision left to revert
        raise ValueError(f"sample {target.id} has no decision to undo")
    ctx.store.decide([target.id], "undo", ctx.reviewer_for(request))
    queue.last = None
    queue.go_to(target.id)
    return show(ctx, queue, target.id, run)


def bulk(ctx, method, group, job, status, action, confirmed, request=None) -> tuple:
    if action not in ("accept", "reject"):
        raise ValueError(f"bulk action must be accept or reject, got {action!r}")
    if not as_bool(confirmed, "the confirmation"):
        raise ValueError("tick the confirmation box first")
    ids = ctx.store.sample_ids(rv.queue_filter(method, group, job, status))
    if ids:
        ctx.store.decide(ids, action, ctx.reviewer_for(request), reason="bulk")
    note = f"{action.title()}ed {len(ids)} samples." if ids else "No samples match the filter."
    return note, rv.counts_text(ctx), gr.Checkbox(value=False)


def render(ctx: AppContext) -> TabView:
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
        head = gr.Markdown("### Press Load queue", elem_id="review-header")
        with gr.Row(elem_id="review-images"):
            ref_img = gr.Image(label="Reference", type="filepath", interactive=False, height=230)
            gen_img = gr.Image(label="Generated", type="filepath", interactive=False, height=230)
            mask_img = gr.Image(
                label="Mask overlay", type="filepath", interactive=False, height=230
            )
            ig_img = gr.Image(
                label="Integrated Gradients", type="filepath", interactive=False, height=230
            )
        with gr.Row():
            prev_btn = gr.Button("◀ Prev (k)", elem_id="review-prev")
            accept_btn = gr.Button("Accept (a)", variant="primary", elem_id="review-accept")
            reject_btn = gr.Button("Reject (r)", variant="stop", elem_id="review-reject")
            undo_btn = gr.Button("Undo (z)", elem_id="review-undo")
            next_btn = gr.Button("Next (j) ▶", elem_id="review-next")
            ig_btn = gr.Button("Attribution (i)", elem_id="review-ig")
        counts = gr.Markdown(rv.counts_text(ctx), elem_id="review-counts")
        with gr.Row():
            scores = gr.Dataframe(
                headers=["scorer", "value", "run"],
                value=[],
                interactive=False,
                label="Scores",
                scale=1,
            )
            recipe = gr.JSON(label="Recipe", scale=1, max_height=320)
        with gr.Row(equal_height=True):
            sample_id = checked(
                gr.Number(
                    label="Sample id (Enter to open)", precision=0, minimum=0, elem_id="review-id"
                )
            )
            reload_btn = gr.Button("Load queue", elem_id="review-load")
            action = gr.Radio(["accept", "reject"], value="accept", label="Bulk action")
            confirm = gr.Checkbox(
                label="Yes, apply to all samples of this filter", elem_id="review-bulk-confirm"
            )
            bulk_btn = gr.Button("Apply to filtered", variant="stop", elem_id="review-bulk")
        bulk_note = gr.Markdown()

    filters = [method, group, job, status]
    view = [sample_id, head, ref_img, gen_img, mask_img, ig_img, scores, recipe, counts]
    state_view = [queue_state, *view]

    @friendly
    def on_filter(method, group, job, status, run):
        return load_queue(ctx, method, group, job, status, run)

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
        def decide_current(queue, sample_id, run, request: gr.Request):
            return decide(ctx, decision, queue, sample_id, run, request)

        return decide_current

    @friendly
    def on_undo(queue, sample_id, run, request: gr.Request):
        return undo(ctx, queue, sample_id, run, request)

    @friendly
    def on_attribute(sample_id, run):
        sid = rv.generated_sample(ctx, sample_id).id
        path, caption = rv.attribution_view(ctx, sid, run, compute=True)
        return gr.Image(path, label=caption), rv.score_rows(ctx, sid)

    @friendly
    def on_run(sample_id, run):
        if sample_id is None:
            return gr.Image(None, label="Integrated Gradients")
        path, caption = rv.attribution_view(ctx, int(sample_id), run, compute=False)
        return gr.Image(path, label=caption)

    @friendly
    def on_bulk(method, group, job, status, action, confirmed, request: gr.Request):
        return bulk(ctx, method, group, job, status, action, confirmed, request)

    def choices():
        return (
            gr.Dropdown(choices=method_choices(ctx)),
            gr.Dropdown(choices=job_choices(ctx)),
            gr.Dropdown(choices=[("none", "")] + run_choices(ctx.store)),
        )

    def refresh():  # page load: the widgets hold their defaults, so the queue uses them too
        return (*choices(), *load_queue(ctx, ANY, ANY, ANY, "pending", ""))

    choice_outputs = [method, job, run]
    refresh_outputs = [*choice_outputs, *state_view, confirm]
    gr.on(
        [m.input for m in filters],
        on_filter,
        [*filters, run],
        [*state_view, confirm],
        api_name="review_filter",
    )
    reload_btn.click(
        on_filter, [*filters, run], [*state_view, confirm], api_name="review_load_queue"
    )
    sample_id.submit(on_open, [queue_state, sample_id, run], state_view, api_name="review_show")
    run.input(on_run, [sample_id, run], ig_img, api_name="review_run")
    prev_btn.click(on_step(-1), [queue_state, run], state_view, api_name="review_prev")
    next_btn.click(on_step(+1), [queue_state, run], state_view, api_name="review_next")
    for btn, decision in ((accept_btn, "accept"), (reject_btn, "reject")):
        btn.click(
            on_decide(decision),
            [queue_state, sample_id, run],
            state_view,
            api_name=f"review_{decision}",
        )
    undo_btn.click(on_undo, [queue_state, sample_id, run], state_view, api_name="review_undo")
    ig_btn.click(
        on_attribute,
        [sample_id, run],
        [ig_img, scores],
        api_name="review_attribution",
        concurrency_limit=1,
        concurrency_id="attribution",
    )
    bulk_btn.click(
        on_bulk, [*filters, action, confirm], [bulk_note, counts, confirm], api_name="review_bulk"
    )
    tab.select(choices, None, choice_outputs, api_name="review_open").then(
        on_filter, [*filters, run], [*state_view, confirm], api_name="review_open_queue"
    )
    return TabView("review", refresh, refresh_outputs)


if __name__ == "__main__":
    from ui.launch import run_tab

    run_tab("Review", render)
