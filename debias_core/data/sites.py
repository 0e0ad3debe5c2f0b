"""Where a dataset's spurious attribute lies: on the background or on the object itself.

Mask-based generators (DBB keeps what lies outside the object's mask, DecoupleGen changes it)
assume the attribute is the background, as in Waterbirds. When it lies on the object (a stroke
colour, hair colour, glasses) their edits redraw it, and an image would show a group other than
the one it is recorded in; `generate/sites.py` checks this before a job is queued.

Each adapter declares its site with a `spurious_site(params) -> site` attribute (its dataset
params as stored in the project); a project may override it with the dataset option
`spurious_site`, and adapters that cannot tell (csv folders) declare nothing: "unknown".
"""

from __future__ import annotations

SITES = ("background", "object")
UNKNOWN = "unknown"


def check_site(value: str, what: str = "spurious_site") -> str:
    if value not in (*SITES, ""):
        raise ValueError(f"{what} must be one of {list(SITES)} (or '' for the default)")
    return value


def spurious_site(meta: dict) -> str:
    """'background', 'object' or 'unknown' for a project (its `store.meta()`)."""
    from debias_core.data import DATASETS

    params = meta.get("dataset_params", {}) or {}
    override = params.get("spurious_site") or ""
    if override in SITES:
        return override
    name = meta.get("dataset")
    if name not in DATASETS.names():
        return UNKNOWN
    declare = getattr(DATASETS.get(name), "spurious_site", None)
    return UNKNOWN if declare is None else declare(params)


def describe(meta: dict) -> str:
    """'the stroke colour (on the object)' style words for messages."""
    params = meta.get("dataset_params", {}) or {}
    if meta.get("dataset") == "colored-digits":
        return f"the {params.get('spurious', 'background')} colour"
    if meta.get("dataset") == "celeba":
        return f"the attribute {params.get('bias', '?')!r}"
    return "its spurious attribute"
