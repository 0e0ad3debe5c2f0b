"""The Review grid: one page of the queue as tiles; click, shift-click and the keyboard select.

Gradio has no multi-select gallery, so this is a small gr.HTML component: the selection lives in
the browser (the value's `selected`), so clicking is instant, and goes to the server with each
action. Keys while the grid has focus: arrows move, space toggles, shift+space selects a range;
a / r accept / reject the selection (the page's hotkeys, ui/hotkeys.py).
"""

from __future__ import annotations

from debias_core.analysis.review import grid_page
from ui.common import group_label, parse_optional_int
from ui.state import AppContext
from ui.tiles import SPRITE_COLUMNS, THUMB, TILE_JS, file_url, sprite_sheet

GRID_HTML = "<div class='rv-bar'></div><div class='rv-grid' tabindex='0'></div>"
GRID_CSS = """
.rv-grid { display: flex; flex-wrap: wrap; gap: 4px; outline: none; padding: 2px; }
.rv-grid:focus { box-shadow: 0 0 0 2px #9ecae1; }
.rv-tile { width: 76px; border: 2px solid transparent; border-radius: 4px; cursor: pointer;
  font-size: 10px; line-height: 1.2; text-align: center; user-select: none; }
.rv-tile.on { border-color: #ff7f0e; background: #fff3e6; }
.rv-tile.cur { outline: 2px dashed #1f77b4; }
.rv-tile .rv-img { width: 64px; height: 64px; image-rendering: pixelated; margin: 0 auto;
  background-repeat: no-repeat; }
.rv-tile .st-accepted { color: #2ca02c; } .rv-tile .st-rejected { color: #d62728; }
.rv-tile .st-needs-review { color: #e69500; }
.rv-bar { margin: 4px 0; font-size: 0.9em; }
.rv-bar button { margin-right: 6px; }
"""
GRID_JS = (
    TILE_JS
    + r"""
const grid = element.querySelector('.rv-grid'), bar = element.querySelector('.rv-bar');
let last = null, cursor = 0, shownPage = null;
const items = () => (props.value && props.value.items) || [];
const chosen = () => new Set((props.value && props.value.selected) || []);
function publish(selected) {
  props.value = Object.assign({}, props.value, {selected: Array.from(selected)});
  render();
}
function setRange(k, shift) {  // toggle tile k; with shift, give the range last..k its new state
  const list = items(), sel = chosen(), on = !sel.has(list[k].id);
  const [a, b] = shift && last !== null ? [Math.min(last, k), Math.max(last, k)] : [k, k];
  for (let i = a; i <= b; i++) { if (on) sel.add(list[i].id); else sel.delete(list[i].id); }
  last = k; cursor = k;
  publish(sel);
}
function perRow() {
  const tiles = grid.querySelectorAll('.rv-tile');
  if (!tiles.length) return 1;
  const top = tiles[0].offsetTop; let n = 0;
  for (const t of tiles) { if (t.offsetTop !== top) break; n++; }
  return Math.max(n, 1);
}
function render() {
  const v = props.value || {}, sel = chosen(), list = items();
  grid.innerHTML = '';
  list.forEach((item, k) => {
    const el = spriteTile(v, item, k, k, 'rv');
    el.className = 'rv-tile' + (sel.has(item.id) ? ' on' : '') + (k === cursor ? ' cur' : '');
    grid.append(el);
  });
  bar.innerHTML = '';
  if (!list.length) { bar.textContent = 'Nothing to show: load a queue.'; return; }
  const all = document.createElement('button'); all.textContent = 'Select page';
  all.onclick = () => { const s = chosen(); list.forEach((i) => s.add(i.id)); publish(s); };
  const none = document.createElement('button'); none.textContent = 'Select none';
  none.onclick = () => publish(new Set());
  const count = document.createElement('span'); count.className = 'rv-count';
  count.textContent = `${sel.size} selected · page ${v.page} / ${v.pages} · ${v.total} in queue`;
  bar.append(all, none, count);
}
grid.addEventListener('click', (e) => {
  const tile = e.target.closest('.rv-tile'); if (!tile) return;
  grid.focus();
  setRange(Number(tile.dataset.k), e.shiftKey);
});
grid.addEventListener('keydown', (e) => {
  const n = items().length; if (!n || e.ctrlKey || e.metaKey || e.altKey) return;
  const step = {ArrowRight: 1, ArrowLeft: -1, ArrowDown: perRow(), ArrowUp: -perRow()}[e.key];
  if (step !== undefined) {
    cursor = Math.min(Math.max(cursor + step, 0), n - 1);
    if (!e.shiftKey) last = cursor;
    render();
  } else if (e.key === ' ') {
    setRange(cursor, e.shiftKey);
  } else {
    return;  // a / r and the rest: the page's hotkeys
  }
  e.preventDefault(); e.stopPropagation();
});
watch('value', () => {
  const v = props.value || {};
  if (v.page !== shownPage) { last = null; cursor = 0; shownPage = v.page; }
  render();
});
render();
"""
)


def empty_grid() -> dict:
    return {"items": [], "selected": [], "page": 1, "pages": 1, "total": 0}


def grid_value(ctx: AppContext, ids: list[int], page, selected=()) -> dict:
    """One page of the queue `ids` for the grid, keeping the selection the browser sent."""
    view = grid_page(ctx.store, ids, parse_optional_int(page, "grid page") or 1)
    shown = [ctx.store.get_sample(t.id) for t in view.tiles]
    aligned = ctx.aligned_attrs()
    items = [
        {
            "id": t.id,
            "status": t.status,
            "tags": ", ".join(t.tags),
            "group": group_label(ctx.store, t.y, t.a, aligned),
        }
        for t in view.tiles
    ]
    return {
        "items": items,
        "sprite": file_url(sprite_sheet(ctx.store, shown)) if shown else "",
        "columns": SPRITE_COLUMNS,
        "cell": THUMB,
        "page": view.page,
        "pages": view.pages,
        "total": view.total,
        "selected": selected_ids(selected),
    }


def selected_ids(value) -> list[int]:
    """The selection a client sent (a list of ids, or the grid's whole value)."""
    if isinstance(value, dict):
        value = value.get("selected") or []
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ValueError(f"the grid selection must be a list of sample ids, got {value!r}")
    return sorted({parse_optional_int(i, "sample id") for i in value} - {None})


def grid_info(value: dict) -> str:
    """How to use the grid. The counts (selected, page, queue size) are in the grid's own bar,
    which the page keeps current as tiles are clicked: one count line, never a stale one."""
    if not value.get("total"):
        return "The grid shows the loaded queue, a page at a time."
    return "Select tiles with click, shift-click, or arrows + space; a / r act on the selection."
