"""Embeddings tab: a WebGL scatter (PCA at once, UMAP as a job) whose lasso fills a grid below.

Points are real and generated samples in a feature space (the embedded CLIP by default), coloured
by status / source / method / job / class / context / group / tag / verdict, with a thumbnail on
hover. A lasso or box selection loads its samples into a multi-select grid (200 a page); ticking
tiles highlights their points; accept / reject / tag / un-tag act on the ticked samples as
ordinary append-only decisions (a confirmation above 20). plotly.js is served from the installed
plotly package, never from a CDN.
Run alone: python -m ui.embeddings --project DIR
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import plotly

from debias_core.analysis.attribution import thumbnail_path
from debias_core.analysis.selection import CONFIRM_ABOVE
from ui import embeddings_view as ev
from ui.common import TabView, as_int, checked, friendly
from ui.jobs import render_jobs
from ui.state import AppContext

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
HOVER_THUMB = 96

PLOT_HTML = "<div class='ds-plot'></div><div class='ds-tip'><img alt=''><span></span></div>"
PLOT_CSS = """
.ds-plot { width: 100%; min-height: 520px; }
.ds-tip { position: fixed; display: none; z-index: 1000; pointer-events: none; background: #fff;
  border: 1px solid #999; border-radius: 4px; padding: 3px; font-size: 12px; }
.ds-tip img { display: block; width: 96px; height: 96px; image-rendering: pixelated; }
.ds-empty { padding: 2em; color: #666; }
"""
# Runs once when the component mounts; `watch` redraws on every new value from the server.
# A value is either all points ({kind: 'points'}) or new colours for the same points
# ({kind: 'colors'}), so recolouring never re-sends 50,000 coordinates.
PLOT_JS = r"""
const box = element.querySelector('.ds-plot');
const tip = element.querySelector('.ds-tip');
const state = {ids: null, x: null, y: null, codes: null, categories: [], colors: [],
  traceIds: [], where: new Map(), projection: null, title: ''};
box.dsState = state;  // read by the browser test
const decode = (b64, Type) => {
  const bin = atob(b64), bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Type(bytes.buffer);
};
function runs(pairs, n) {  // [[first, count], ...] -> the sorted ids
  const ids = new Int32Array(n); let k = 0;
  for (const [first, count] of pairs) for (let j = 0; j < count; j++) ids[k++] = first + j;
  return ids;
}
function scaled(b64, low, step) {  // 16-bit steps of the axis range -> coordinates
  const q = decode(b64, Uint16Array), out = new Float32Array(q.length);
  for (let i = 0; i < q.length; i++) out[i] = low + q[i] * step;
  return out;
}
function traces() {
  const n = state.ids.length, members = state.categories.map(() => []);
  for (let i = 0; i < n; i++) members[state.codes[i]].push(i);
  const size = n > 20000 ? 3 : n > 2000 ? 4 : 6;
  state.traceIds = []; state.where = new Map();
  return members.map((rows, t) => {
    const xs = new Float32Array(rows.length), ys = new Float32Array(rows.length);
    const ids = new Int32Array(rows.length);
    rows.forEach((i, j) => {
      xs[j] = state.x[i]; ys[j] = state.y[i]; ids[j] = state.ids[i];
      state.where.set(state.ids[i], [t, j]);
    });
    state.traceIds.push(ids);
    return {type: 'scattergl', mode: 'markers', x: xs, y: ys, hoverinfo: 'none',
      name: `${state.categories[t]} (${rows.length})`, marker: {color: state.colors[t], size}};
  });
}
function draw() {
  if (!window.Plotly || !state.ids) return;
  const layout = {dragmode: 'lasso', height: 520, margin: {l: 40, r: 10, t: 36, b: 30},
    title: {text: state.title, font: {size: 13}}, uirevision: state.projection,
    legend: {itemsizing: 'constant'}, xaxis: {zeroline: false}, yaxis: {zeroline: false}};
  Plotly.react(box, traces(), layout, {displaylogo: false, responsive: true});
  if (!box.dsBound) bind();
  box.dataset.points = String(state.ids.length);
  box.dataset.drawn = String(Date.now());
}
const idOf = (p) => state.traceIds[p.curveNumber][p.pointIndex];
const thumbs = new Map();
async function showTip(id, e) {
  if (!thumbs.has(id)) thumbs.set(id, await server.thumbnail(id));
  tip.querySelector('img').src = thumbs.get(id);
  tip.querySelector('span').textContent = '#' + id;
  tip.style.left = (e.clientX + 14) + 'px'; tip.style.top = (e.clientY + 14) + 'px';
  tip.style.display = 'block';
}
function bind() {
  box.dsBound = true;
  box.on('plotly_selected', (ev) => {
    if (!ev || !ev.points) return;
    trigger('select', {ids: ev.points.map(idOf)});
  });
  box.on('plotly_hover', (ev) => { if (ev.points.length) showTip(idOf(ev.points[0]), ev.event); });
  box.on('plotly_unhover', () => { tip.style.display = 'none'; });
}
function highlight(ids) {
  if (!box.data || !state.ids) return;
  const chosen = state.categories.map(() => []);
  for (const id of ids) { const w = state.where.get(id); if (w) chosen[w[0]].push(w[1]); }
  Plotly.restyle(box, {selectedpoints: ids.length ? chosen : chosen.map(() => null)});
}
window.addEventListener('ds-embeddings-highlight', (e) => highlight(e.detail || []));
function apply(v) {
  const started = performance.now();
  box.dataset.appliedAt = String(Math.round(started));  // when the value arrived (bench)
  if (!v || v.kind === 'empty') {
    state.ids = null; if (window.Plotly) Plotly.purge(box);
    box.innerHTML = `<div class="ds-empty"></div>`;
    box.firstChild.textContent = (v && v.message) || '';
    return;
  }
  if (v.kind === 'points') {
    box.innerHTML = '';
    state.ids = runs(v.ids, v.n); state.x = scaled(v.x, v.x0, v.x_step);
    state.y = scaled(v.y, v.y0, v.y_step);
    state.projection = v.projection_id; state.title = v.title;
  } else if (v.projection_id !== state.projection) {
    return;  // colours for another view: the points shown are not theirs
  }
  state.codes = decode(v.codes, Uint8Array);
  state.categories = v.categories; state.colors = v.colors;
  draw();
  box.dataset.drawMs = String(Math.round(performance.now() - started));  // for the bench
}
watch('value', () => apply(props.value));
apply(props.value);
"""

GRID_HTML = "<div class='ds-grid-bar'></div><div class='ds-grid'></div>"
GRID_CSS = """
.ds-grid { display: flex; flex-wrap: wrap; gap: 4px; max-height: 620px; overflow-y: auto; }
.ds-tile { width: 76px; border: 2px solid transparent; border-radius: 4px; cursor: pointer;
  font-size: 10px; line-height: 1.2; text-align: center; user-select: none; opacity: 0.45; }
.ds-tile.on { border-color: #ff7f0e; opacity: 1; }
.ds-tile .ds-img { width: 64px; height: 64px; image-rendering: pixelated; margin: 0 auto;
  background-repeat: no-repeat; }
.ds-tile .st-accepted { color: #2ca02c; } .ds-tile .st-rejected { color: #d62728; }
.ds-grid-bar { margin: 4px 0; font-size: 0.9em; }
.ds-grid-bar button { margin-right: 6px; }
"""
# Ticks live in the browser (the value's `unchecked`), so ticking is instant; the value goes to
# the server with each action. Shift-click ticks or un-ticks a range.
GRID_JS = r"""
const grid = element.querySelector('.ds-grid'), bar = element.querySelector('.ds-grid-bar');
let last = null, shownPage = null;
const off = () => new Set((props.value && props.value.unchecked) || []);
function ticked() {
  const v = props.value || {}, o = off();
  return (v.ids || []).filter((id) => !o.has(id));
}
function publish(unchecked) {
  props.value = Object.assign({}, props.value, {unchecked: Array.from(unchecked)});
  render();
}
function announce() {
  window.dispatchEvent(new CustomEvent('ds-embeddings-highlight', {detail: ticked()}));
}
function render() {
  const v = props.value || {}, o = off(), items = v.items || [];
  grid.innerHTML = '';
  items.forEach((item, k) => {
    const tile = document.createElement('div');
    tile.className = 'ds-tile' + (o.has(item.id) ? '' : ' on');
    tile.dataset.id = item.id; tile.dataset.k = k; tile.title = item.group;
    const img = document.createElement('div'); img.className = 'ds-img';
    const cols = v.columns || 20, cell = v.cell || 64;
    img.style.backgroundImage = `url("${v.sprite}")`;
    img.style.backgroundPosition =
      `-${(item.cell % cols) * cell}px -${Math.floor(item.cell / cols) * cell}px`;
    const cap = document.createElement('div');
    const st = document.createElement('span'); st.className = 'st-' + item.status;
    st.textContent = item.status;
    cap.append('#' + item.id + ' ', st);
    if (item.tags) { const t = document.createElement('div'); t.textContent = item.tags;
      cap.append(t); }
    tile.append(img, cap);
    grid.append(tile);
  });
  const n = (v.ids || []).length;
  bar.innerHTML = '';
  if (!n) { bar.textContent = 'No selection yet.'; announce(); return; }
  const all = document.createElement('button'); all.textContent = 'Tick all';
  all.onclick = () => publish(new Set());
  const none = document.createElement('button'); none.textContent = 'Tick none';
  none.onclick = () => publish(new Set(v.ids));
  const count = document.createElement('span');
  count.textContent = `${ticked().length} of ${n} ticked`;
  count.className = 'ds-grid-count';
  bar.append(all, none, count);
  announce();
}
grid.addEventListener('click', (e) => {
  const tile = e.target.closest('.ds-tile'); if (!tile) return;
  const items = (props.value || {}).items || [], k = Number(tile.dataset.k);
  const o = off(), id = Number(tile.dataset.id), on = !o.has(id);
  const [a, b] = e.shiftKey && last !== null ? [Math.min(last, k), Math.max(last, k)] : [k, k];
  for (let i = a; i <= b; i++) { if (on) o.add(items[i].id); else o.delete(items[i].id); }
  last = k;
  publish(o);
});
watch('value', () => {
  const v = props.value || {};
  if (v.page !== shownPage) { last = null; shownPage = v.page; }
  render();
});
render();
"""


def hover_thumbnail(ctx: AppContext, sample_id) -> str:
    """The hover thumbnail's URL (made on first request); '' for an unknown id."""
    try:
        sample = ctx.store.get_sample(int(sample_id))
    except (KeyError, TypeError, ValueError):
        return ""
    return ev.file_url(thumbnail_path(ctx.store, sample, HOVER_THUMB))


def render(ctx: AppContext) -> TabView:
    # plotly.js from the installed package: only this one file becomes servable.
    gr.set_static_paths([str(PLOTLY_JS)])

    def thumbnail(sample_id):  # called from the page's script as server.thumbnail(id)
        return hover_thumbnail(ctx, sample_id)

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
            head=f'<script src="{ev.file_url(PLOTLY_JS)}"></script>',
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
        return gr.Dropdown(choices=ev.feature_choices(ctx))

    view_inputs = [features, method, colour_by, projection_id]
    view_outputs = [plot, info, projection_id]
    grid_outputs = [grid, grid_note, page]
    tab.select(show, view_inputs, view_outputs, api_name="embeddings_open")
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
        button.click(
            lambda features, kind=kind: submit(kind, features),
            features,
            note,
            api_name=f"embeddings_{kind}_submit",
        ).then(
            lambda kind=kind: _poll(ctx, kind),
            None,
            panel.outputs,
            show_progress="hidden",
            api_name=f"embeddings_{kind}_watch",
            api_visibility="private",
        ).then(  # a short job may be done before the first poll: then show it now
            lambda f, m, c, p, kind=kind: _reload_if_finished(ctx, kind, f, m, c, p),
            view_inputs,
            view_outputs,
            show_progress="hidden",
            api_name=f"embeddings_{kind}_shown",
            api_visibility="private",
        )
        # When a job ends, show its result (the timer stops polling then).
        panel.polled.then(
            lambda f, m, c, p, kind=kind: _reload_if_finished(ctx, kind, f, m, c, p),
            view_inputs,
            view_outputs,
            show_progress="hidden",
            api_name=f"embeddings_{kind}_reload",
            api_visibility="private",
        )
    return TabView("embeddings", refresh, [features])


def _poll(ctx: AppContext, kind: str):
    from ui.jobs import poll

    return poll(ctx, kind)


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
