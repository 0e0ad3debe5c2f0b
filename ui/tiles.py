"""Sprite-sheet tiles shared by the Review and Embeddings grids: the sheet and one tile.

A grid page is one PNG (SPRITE_COLUMNS a row, THUMB px a cell) plus, per tile, its place in it;
TILE_JS is the browser half: one function both grids' scripts include to draw a tile.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from pathlib import Path

from PIL import Image

from debias_core.analysis.attribution import THUMBS

THUMB = 64
SPRITE_COLUMNS = 20

# spriteTile(v, item, k, at, prefix): the k-th tile of the page value `v` (its sprite URL,
# columns and cell size), cut from cell `at` of the sheet, with '#id status' and the tags below;
# its classes start with `prefix` (each grid styles its own), the status span is `st-<status>`.
TILE_JS = r"""
function spriteTile(v, item, k, at, prefix) {
  const el = document.createElement('div');
  el.dataset.id = item.id; el.dataset.k = k; el.title = item.group;
  const img = document.createElement('div'); img.className = prefix + '-img';
  const cols = v.columns || 20, cell = v.cell || 64;
  img.style.backgroundImage = `url("${v.sprite}")`;
  img.style.backgroundPosition =
    `-${(at % cols) * cell}px -${Math.floor(at / cols) * cell}px`;
  const cap = document.createElement('div');
  const st = document.createElement('span'); st.className = 'st-' + item.status;
  st.textContent = item.status;
  cap.append('#' + item.id + ' ', st);
  if (item.tags) { const t = document.createElement('div'); t.textContent = item.tags;
    cap.append(t); }
  el.append(img, cap);
  return el;
}
"""


def sprite_sheet(store, samples: list) -> Path:
    """One PNG holding every tile of a grid page (SPRITE_COLUMNS a row, THUMB px a cell).

    A page is then one image request instead of 200: through Gradio's file route each request
    costs ~10-20 ms of server time on a busy 2-core machine. Cached under thumbs/ by the
    pictures' hashes; small pictures are scaled by whole factors (pixelated, like the page).
    """
    key = hashlib.sha256("".join(s.sha256 for s in samples).encode()).hexdigest()
    target = store.root / THUMBS / "sprites" / key[:2] / f"{key}-{THUMB}.png"
    if target.exists():
        return target
    rows = math.ceil(len(samples) / SPRITE_COLUMNS)
    sheet = Image.new("RGB", (SPRITE_COLUMNS * THUMB, rows * THUMB), "white")
    for k, sample in enumerate(samples):
        with Image.open(store.sample_path(sample)) as im:
            picture = _fit(im.convert("RGB"))
        x = (k % SPRITE_COLUMNS) * THUMB + (THUMB - picture.width) // 2
        y = (k // SPRITE_COLUMNS) * THUMB + (THUMB - picture.height) // 2
        sheet.paste(picture, (x, y))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    sheet.save(partial, format="PNG")
    os.replace(partial, target)  # readers see the whole file or none
    return target


def _fit(picture: Image.Image) -> Image.Image:
    side = max(picture.size)
    if side <= THUMB:  # whole-factor upscale keeps pixels square
        factor = THUMB // side
        return picture.resize((picture.width * factor, picture.height * factor), Image.NEAREST)
    picture.thumbnail((THUMB, THUMB), Image.LANCZOS)
    return picture


def file_url(path) -> str:
    """A URL the page can load (project images and thumbnails are in the allowed paths)."""
    return f"gradio_api/file={path}"
