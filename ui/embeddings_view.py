"""What the Embeddings tab shows: the scatter's payload, point colours and the selection grid.

No widgets here. The scatter payload is compact: ids, x and y as base64 typed arrays and one
category code per point, so 50,000 points are ~1 MB; a recolouring sends the codes only, never
the coordinates again.
"""

from __future__ import annotations

import base64
import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from debias_core.analysis.attribution import thumbnail_path
from debias_core.analysis.embeddings import ProjectionConfig, is_current, project
from debias_core.analysis.features import get_extractor
from debias_core.analysis.selection import apply_to_selection
from debias_core.ids import MAX_ID
from debias_core.store import SampleFilter
from debias_core.store.embeddings import Projection
from debias_core.store.samples import VERDICT_SQL
from ui.common import run_choices
from ui.state import AppContext
from ui.tiles import SPRITE_COLUMNS, THUMB, file_url, sprite_sheet

COLOUR_BY = ("status", "source", "method", "job", "class", "context", "group", "tag", "verdict")
METHODS = ("pca", "umap")
GRID_PAGE = 200
HOVER_THUMB = 96
MAX_CATEGORIES = 24  # more categories than a legend can show become "other" (codes are bytes)
FIXED_COLOURS = {
    "real": "#9ecae1",
    "generated": "#fd8d3c",
    "pending": "#969696",
    "accepted": "#2ca02c",
    "rejected": "#d62728",
    "untagged": "#c7c7c7",
    "none": "#c7c7c7",
    "other": "#525252",
}
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd",
    "#e6550d", "#31a354", "#756bb1", "#636363", "#6baed6", "#fd8d3c", "#74c476", "#9e9ac8",
)  # fmt: skip
STATUS_ORDER = ("real", "pending", "accepted", "rejected")


def feature_choices(ctx: AppContext) -> list[tuple[str, str]]:
    """The embedded CLIP, OpenAI's CLIP (from local files), and each finished training run."""
    choices = [
        ("clip (embedded tiny CLIP)", "clip"),
        ("clip:vit-b-32 (OpenAI, local files)", "clip:vit-b-32"),
        ("clip:vit-l-14 (OpenAI, local files)", "clip:vit-l-14"),
    ]
    return choices + [
        (f"run:{value} · {label}", f"run:{value}") for label, value in run_choices(ctx.store)
    ]


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def id_runs(ids: np.ndarray) -> list[list[int]]:
    """Sorted ids as [first, count] runs: a project's ids are mostly consecutive, so 50,000 ids
    are a handful of numbers instead of 270 kB."""
    ids = np.asarray(ids, np.int64)
    if not len(ids):
        return []
    breaks = np.flatnonzero(np.diff(ids) != 1) + 1
    starts = np.concatenate([[0], breaks])
    counts = np.diff(np.concatenate([starts, [len(ids)]]))
    return [[int(ids[a]), int(n)] for a, n in zip(starts, counts, strict=True)]


def quantised(name: str, values: np.ndarray) -> dict:
    """Coordinates as 16-bit steps of their range (1/65,535 of the axis: finer than a pixel)."""
    values = np.asarray(values, np.float64)
    low = float(values.min()) if len(values) else 0.0
    span = float(values.max() - low) if len(values) else 0.0
    steps = np.round((values - low) / span * 65535) if span > 0 else np.zeros(len(values))
    return {name: _b64(steps.astype("<u2")), f"{name}0": low, f"{name}_step": span / 65535}


# -- colours -------------------------------------------------------------------------------------
def _label_rows(ctx: AppContext, colour_by: str) -> list[tuple[int, str]]:
    """(sample id, category) for every sample, ordered by id; one query per colouring, joining
    only the tables that colouring needs (50,000 rows: tens of ms, not hundreds)."""
    store = ctx.store
    if colour_by in ("class", "context", "group"):
        classes, attrs = store.class_names, store.attr_names
        rows = store.db.conn.execute("select id, y, a from samples order by id").fetchall()
        name = {
            "class": lambda y, a: _name(classes, y),
            "context": lambda y, a: _name(attrs, a),
            "group": lambda y, a: f"{_name(classes, y)} / {_name(attrs, a)}",
        }[colour_by]
        return [(sid, name(y, a)) for sid, y, a in rows]
    real = "case when s.source = 'real' then 'real' else {} end"
    tags = (
        " left join (select sample_id, group_concat(tag, ', ') as tags from"
        " (select * from sample_tags order by tag) group by sample_id) t on t.sample_id = s.id"
    )
    label, joins = {
        "source": ("s.source", ""),
        "method": (
            real.format("coalesce(r.method, 'unknown')"),
            " left join recipes r on r.id = s.recipe_id",
        ),
        "job": (real.format("coalesce('job ' || s.job_id, 'no job')"), ""),
        "status": (
            real.format("coalesce(c.status, 'pending')"),
            " left join curation c on c.sample_id = s.id",
        ),
        "verdict": (real.format(f"coalesce({VERDICT_SQL}, 'none')"), ""),
        "tag": ("coalesce(t.tags, 'untagged')", tags),
    }.get(colour_by, (None, None))
    if label is None:
        raise ValueError(f"colour by must be one of {COLOUR_BY}, got {colour_by!r}")
    return store.db.conn.execute(
        f"select s.id, {label} from samples s{joins} order by s.id"
    ).fetchall()


def _name(names: list[str], index: int) -> str:
    return names[index] if 0 <= index < len(names) else str(index)


def _categories(counts: dict[str, int], colour_by: str) -> list[str]:
    """Category order for the legend: fixed for status, else by size; the tail is 'other'."""
    if colour_by == "status":
        return [s for s in STATUS_ORDER if s in counts]
    ordered = sorted(counts, key=lambda c: (-counts[c], c))
    if len(ordered) > MAX_CATEGORIES:
        ordered = ordered[: MAX_CATEGORIES - 1] + ["other"]
    return ordered


def colour_codes(ctx: AppContext, ids: np.ndarray, colour_by: str) -> dict:
    """{codes (base64 uint16, one per id), categories, colors} for points with these ids."""
    rows = _label_rows(ctx, colour_by)
    all_ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
    labels = [r[1] for r in rows]
    categories = _categories(Counter(labels), colour_by)
    index = {c: k for k, c in enumerate(categories)}
    other = index.get("other", len(categories) - 1)
    codes_all = np.fromiter((index.get(label, other) for label in labels), np.uint16, len(rows))
    pos = np.searchsorted(all_ids, ids)  # every projected id is a sample id (sorted both)
    codes = codes_all[np.clip(pos, 0, max(len(all_ids) - 1, 0))] if len(ids) else codes_all[:0]
    colours, k = [], 0
    for category in categories:
        if category in FIXED_COLOURS:
            colours.append(FIXED_COLOURS[category])
        else:
            colours.append(PALETTE[k % len(PALETTE)])
            k += 1
    return {"codes": _b64(codes.astype("u1")), "categories": categories, "colors": colours}


# -- the scatter ---------------------------------------------------------------------------------
@dataclass
class PlotView:
    payload: dict  # the scatter component's value
    info: str  # markdown under the controls


def current_projection(
    ctx: AppContext, features: str, method: str, every: np.ndarray | None = None
) -> tuple[Projection | None, str]:
    """The stored projection to show; a PCA is computed at once from cached vectors if needed."""
    if method not in METHODS:
        raise ValueError(f"projection must be one of {METHODS}, got {method!r}")
    extractor = get_extractor(ctx.store, features)
    latest = ctx.store.latest_projection(extractor.spec, method)
    model_hash = extractor.model_id()
    every = ctx.store.all_sample_ids() if every is None else every
    fresh = (
        latest is not None
        and latest.model_hash == model_hash
        and is_current(ctx.store, latest, every)
    )
    if fresh or method == "umap":
        return latest, "" if fresh or latest is None else "stale"
    embedded = ctx.store.embedded_ids(extractor.spec, model_hash)
    if not len(embedded):
        return latest, "stale" if latest is not None else ""
    result = project(ctx.store, ProjectionConfig(features, "pca"), ctx.device, embed=False)
    return result.projection, ("partial" if result.not_embedded else "")


def plot_view(
    ctx: AppContext, features: str, method: str, colour_by: str, shown=None, start: bool = False
) -> PlotView:
    """The scatter's value; only new colours when this browser already shows that projection
    (`shown`: the projection id it was last sent), so returning to the tab re-sends no points.

    `start` (the tab was opened): a feature space with no vectors yet gets its embed job now, so
    the PCA appears when it ends instead of waiting for a press of Compute embeddings."""
    every = ctx.store.all_sample_ids()
    projection, state = current_projection(ctx, features, method, every)
    if projection is None:
        verb = "Compute UMAP" if method == "umap" else "Compute embeddings"
        started = start_embedding(ctx, features) if start and method == "pca" else ""
        return PlotView(
            {"kind": "empty", "message": f"No {method.upper()} view of {features} yet."},
            started
            or f"No {method.upper()} view of `{features}` yet: press **{verb}** (a background "
            "job).",
        )
    missing = len(every) - len(projection.ids)
    notes = {
        "stale": f" · **out of date**: {missing:+d} samples since; press Compute "
        f"{'UMAP' if method == 'umap' else 'embeddings'}",
        "partial": f" · {missing} samples not embedded yet (press Compute embeddings)",
        "": "",
    }
    title = f"{method.upper()} of {projection.features} · {len(projection.ids):,} points"
    if shown is not None and str(shown) == str(projection.id):
        payload = recolour(ctx, projection.id, colour_by)
    else:
        payload = {
            "kind": "points",
            "projection_id": projection.id,
            "title": title,
            "n": len(projection.ids),
            "ids": id_runs(projection.ids),
            **quantised("x", projection.xy[:, 0]),
            **quantised("y", projection.xy[:, 1]),
            **colour_codes(ctx, projection.ids, colour_by),
        }
    info = (
        f"{title} (projection #{projection.id}, weights `{projection.model_hash[:10]}`, "
        f"{projection.created_at[:19].replace('T', ' ')}){notes[state]}. Lasso or box-select "
        "points to open them in the grid; hover for a thumbnail."
    )
    return PlotView(payload, info)


def start_embedding(ctx: AppContext, features: str) -> str:
    """Queue the first embed job of a feature space; '' if one was ever run (a failed one is
    not retried on every open: its error stays in the jobs table) or this one cannot start."""
    from debias_core.analysis.embeddings import check_embed

    try:
        spec = check_embed(ctx.store, {"features": features}).features
        if any(
            j.kind == "embed" and j.params.get("features") == spec
            for j in ctx.store.list_jobs(limit=500)
        ):
            return ""
        job_id = ctx.executor.submit("embed", {"features": features})
    except ValueError:  # e.g. OpenAI CLIP's files are missing: the button's press says why
        return ""
    n = len(ctx.store.all_sample_ids())
    return (
        f"Computing the `{features}` embeddings of {n:,} samples first (embed job {job_id}, "
        "progress below); the PCA appears here when it ends."
    )


def recolour(ctx: AppContext, projection_id, colour_by: str) -> dict:
    """A colours-only update for the points already in the browser."""
    if projection_id in (None, ""):
        return {"kind": "empty", "message": "Nothing to colour yet."}
    projection = ctx.store.get_projection(int(projection_id))
    return {
        "kind": "colors",
        "projection_id": projection.id,
        **colour_codes(ctx, projection.ids, colour_by),
    }


def hover_thumbnail(ctx: AppContext, sample_id) -> str:
    """The hover thumbnail's URL (made on first request); '' for an unknown id."""
    try:
        sample = ctx.store.get_sample(int(sample_id))
    except (KeyError, TypeError, ValueError):
        return ""
    return file_url(thumbnail_path(ctx.store, sample, HOVER_THUMB))


# -- the grid ------------------------------------------------------------------------------------


def parse_ids(text) -> list[int]:
    """'3, 5 9' or a list -> sample ids (de-duplicated, in order); anything else is refused."""
    parts = text if isinstance(text, list | tuple) else str(text or "").replace(",", " ").split()
    try:
        ids = [int(p) for p in parts]
    except (TypeError, ValueError):
        raise ValueError("sample ids are whole numbers separated by commas or spaces") from None
    if any(not 0 < i <= MAX_ID for i in ids):
        raise ValueError("sample ids are positive whole numbers")
    return list(dict.fromkeys(ids))


def grid_value(ctx: AppContext, ids, page=1, unchecked=()) -> dict:
    """The grid's value: every selected id, one page of tiles, and which ids are un-ticked."""
    ids = parse_ids(ids)
    known = set(ctx.store.sample_ids(SampleFilter(ids=ids))) if ids and len(ids) < 900 else None
    if known is not None and len(known) < len(ids):
        missing = [i for i in ids if i not in known]
        raise KeyError(f"no sample with id {missing[0]}")
    pages = max(1, math.ceil(len(ids) / GRID_PAGE))
    page = min(max(int(page or 1), 1), pages)
    shown = ids[(page - 1) * GRID_PAGE : page * GRID_PAGE]
    unchecked = sorted(set(parse_ids(list(unchecked or []))) & set(ids))
    items, sprite = _tiles(ctx, shown)
    return {
        "ids": ids,
        "page": page,
        "pages": pages,
        "page_size": GRID_PAGE,
        "unchecked": unchecked,
        "items": items,
        "sprite": sprite,
        "columns": SPRITE_COLUMNS,
        "cell": THUMB,
    }


def _tiles(ctx: AppContext, ids: list[int]) -> tuple[list[dict], str]:
    """The page's tiles (id, status, group, tags, place in the sprite) and the sprite's URL."""
    if not ids:
        return [], ""
    samples = {s.id: s for s in ctx.store.list_samples(SampleFilter(ids=ids))}
    rows = ctx.store.db.conn.execute(
        f"select sample_id, status from curation where sample_id in ({','.join('?' * len(ids))})",
        ids,
    ).fetchall()
    status = dict(rows)
    tags = ctx.store.tags_for(ids)
    classes, attrs = ctx.store.class_names, ctx.store.attr_names
    shown = [samples[i] for i in ids if i in samples]
    tiles = [
        {
            "id": s.id,
            "cell": k,
            "status": "real" if s.source == "real" else status.get(s.id, "pending"),
            "group": f"{_name(classes, s.y)} / {_name(attrs, s.a)}",
            "tags": ", ".join(tags.get(s.id, [])),
        }
        for k, s in enumerate(shown)
    ]
    return tiles, file_url(sprite_sheet(ctx.store, shown))


def grid_info(value: dict | None) -> str:
    """The selection's size and page. How many are ticked is counted live in the grid's own bar
    (ticking happens in the browser, so a count here would go stale after "Tick none")."""
    if not value or not value.get("ids"):
        return "No selection yet: lasso or box-select points (or type ids)."
    return (
        f"**{len(value['ids'])}** selected · actions apply to the ticked tiles · "
        f"page {value['page']} / {value['pages']}"
    )


def ticked_ids(value: dict | None) -> list[int]:
    if not isinstance(value, dict):
        return []
    off = set(parse_ids(list(value.get("unchecked") or [])))
    return [i for i in parse_ids(list(value.get("ids") or [])) if i not in off]


def act(ctx: AppContext, value: dict, action: str, tags: str, reason: str, confirmed: bool,
        reviewer: str):  # fmt: skip
    """Accept / reject / tag / untag the ticked samples (append-only rows)."""
    return apply_to_selection(
        ctx.store,
        ticked_ids(value),
        action,
        reviewer,
        tags=tags or "",
        reason=reason or "",
        confirmed=bool(confirmed),
    )
