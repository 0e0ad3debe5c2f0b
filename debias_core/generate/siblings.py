"""Semantic siblings of a context label: what DecoupleGen's replacement edit may put in c's place.

Seed 000 (section 4.1.2) replaces c by a class of the same COCO supercategory, and lists its own
pairs for PASCAL (Table 5). Here, in order of precedence:

1. the project's `siblings.json` ({"label": ["sibling", ...]}), which the user edits by hand or
   with `python -m debias_core siblings DIR --set LABEL=A,B`;
2. the dataset's hierarchy: the labels of the same supercategory (`store.semantic_siblings`,
   COCO-Stuff's supercategories);
3. on a dataset whose contexts are also labels (the embedded multi-label demo), the other
   contexts (another colour for a colour).
Only names of the project's own labels count: a sibling the project does not know is left out.
"""

from __future__ import annotations

import json

SIBLINGS_FILE = "siblings.json"


def read_user_table(store) -> dict[str, list[str]]:
    """The project's hand-edited table ({} when there is none); a malformed file is an error."""
    path = store.root / SIBLINGS_FILE
    if not path.is_file():
        return {}
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{SIBLINGS_FILE} is not valid JSON: {exc}") from None
    ok = isinstance(table, dict) and all(
        isinstance(v, list) and all(isinstance(s, str) for s in v) for v in table.values()
    )
    if not ok:
        raise ValueError(f'{SIBLINGS_FILE} must map label names to lists of names: {{"a": ["b"]}}')
    return {str(k): list(v) for k, v in table.items()}


def write_user_table(store, table: dict[str, list[str]]) -> None:
    """Replace the project's table (names checked against the project's labels)."""
    known = set(store.label_name_map().values())
    unknown = sorted({n for k, v in table.items() for n in [k, *v]} - known)
    if unknown:
        raise ValueError(f"unknown label(s) {unknown[:10]}; this project has {sorted(known)}")
    path = store.root / SIBLINGS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(table, indent=2, sort_keys=True))
    tmp.replace(path)


def dataset_table(store) -> dict[str, list[str]]:
    """Siblings from the dataset's own hierarchy (the store's `semantic_siblings`: labels of the
    same supercategory), or, where it has none, its contexts when they are labels."""
    names = store.label_name_map()
    hierarchy = getattr(store, "semantic_siblings", None)  # a project with supercategories
    if callable(hierarchy):
        table = {names[k]: [names[s] for s in hierarchy(k) if s in names] for k in names}
        table = {k: v for k, v in table.items() if v}
        if table:
            return table
    contexts = [c for c in store.meta().get("attr_names", []) if c in names.values()]
    return {c: [o for o in contexts if o != c] for c in contexts}


def siblings_table(store) -> dict[str, list[str]]:
    """label name -> its siblings (the user's table over the dataset's), project labels only."""
    names = set(store.label_name_map().values())
    table = {**dataset_table(store), **read_user_table(store)}
    return {k: [s for s in v if s in names and s != k] for k, v in sorted(table.items())}


def siblings_of(store, label: str) -> list[str]:
    return siblings_table(store).get(label, [])
