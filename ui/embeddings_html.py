"""The Embeddings tab's two page-side components, as gr.HTML templates (no Python logic).

The scatter draws with plotly.js (WebGL), served from the installed plotly package, never from a
CDN; the grid of the selection ticks tiles in the browser (shared tile drawing: ui/tiles.py).
"""

from __future__ import annotations

from pathlib import Path

import plotly

from ui.tiles import TILE_JS

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

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
  // Restyle only a plot that draws the current categories: restyling trace indices that the
  // plot does not have reads `_fullData[i].uid` of a missing trace (the 'uid' page error).
  if (!box.data || !state.ids || !box._fullData) return;
  if (box.data.length !== state.categories.length) return;
  if (box._fullData.length !== box.data.length) return;
  const chosen = state.categories.map(() => []);
  for (const id of ids) { const w = state.where.get(id); if (w) chosen[w[0]].push(w[1]); }
  Plotly.restyle(box, {selectedpoints: ids.length ? chosen : chosen.map(() => null)});
}
window.addEventListener('ds-embeddings-highlight', (e) => highlight(e.detail || []));
// Plotly keeps its own DOM and WebGL scene inside `box`: never wipe them with innerHTML while a
// plot lives there (react would then update nodes that are gone: a blank plot and "Cannot read
// properties of undefined (reading 'uid')"). Another projection's points start a fresh plot.
function clear() {
  if (window.Plotly && box.data) Plotly.purge(box);  // also drops its event handlers
  box.dsBound = false;
  box.innerHTML = '';
}
function apply(v) {
  const started = performance.now();
  box.dataset.appliedAt = String(Math.round(started));  // when the value arrived (bench)
  if (!v || v.kind === 'empty') {
    state.ids = null; state.projection = null; clear();
    box.innerHTML = `<div class="ds-empty"></div>`;
    box.firstChild.textContent = (v && v.message) || '';
    return;
  }
  if (v.kind === 'points') {
    if (!box.data || v.projection_id !== state.projection) clear();
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
GRID_JS = (
    TILE_JS
    + r"""
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
    const el = spriteTile(v, item, k, item.cell, 'ds');
    el.className = 'ds-tile' + (o.has(item.id) ? '' : ' on');
    grid.append(el);
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
)
