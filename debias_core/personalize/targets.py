"""Turn a job's targets (sample ids, groups, classes) into checked sample lists.

Every bad target is a ValueError that names it, raised while planning, i.e. before a job is
queued: unknown sample ids, a class or group with no samples, a group smaller than the subset
asked for.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from debias_core.generate.prompts import group_text
from debias_core.personalize.base import PersonalizeConfig
from debias_core.store import SampleFilter

TRAIN = {"source": "real", "split": "train"}


def check_samples(store, ids) -> list:
    """The samples with these ids; unknown ids are one error listing them."""
    found = {s.id: s for s in store.list_samples(SampleFilter(ids=list(ids)))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValueError(f"unknown sample ids: {missing[:20]}{' ...' if len(missing) > 20 else ''}")
    return [found[i] for i in ids]


def class_name(store, y: int) -> str:
    names = store.class_names
    return names[y] if y < len(names) else f"class {y}"


def check_class(store, y: int) -> None:
    if not 0 <= y < len(store.class_names):
        raise ValueError(
            f"class {y} is not in this project (classes 0-{len(store.class_names) - 1})"
        )


def check_group(store, y: int, a: int) -> None:
    check_class(store, y)
    if not 0 <= a < len(store.attr_names):
        raise ValueError(
            f"context {a} is not in this project (contexts 0-{len(store.attr_names) - 1})"
        )


def train_ids(store, y: int, a: int | None = None) -> list[int]:
    return store.sample_ids(SampleFilter(y=y, a=a, **TRAIN))


def subset(ids: list[int], k: int, seed: int, *key: int) -> list[int]:
    """k of `ids` chosen at random (seeded by the job seed and `key`), in id order."""
    if k >= len(ids):
        return sorted(ids)
    rng = np.random.default_rng([int(seed), *[int(v) for v in key]])
    return sorted(int(i) for i in rng.choice(ids, size=k, replace=False))


def samples_by_class(store, config: PersonalizeConfig) -> dict[int, list[int]]:
    """Per class, the candidate train samples: given ids, the given groups', or the class's."""
    out: dict[int, list[int]] = defaultdict(list)
    if config.samples:
        for s in check_samples(store, config.samples):
            out[s.y].append(s.id)
        return dict(out)
    if config.groups:
        for y, a in config.groups:
            check_group(store, y, a)
            out[y].extend(train_ids(store, y, a))
    else:
        classes = config.classes or tuple(range(len(store.class_names)))
        for y in classes:
            check_class(store, y)
            out[y] = train_ids(store, y)
    for y, ids in out.items():
        if not ids:
            raise ValueError(f"class {y} ({class_name(store, y)!r}) has no real train samples")
    return dict(out)


def samples_by_group(store, config: PersonalizeConfig) -> dict[tuple[int, int], list[int]]:
    """Per (class, context) group, its candidate train samples."""
    out: dict[tuple[int, int], list[int]] = defaultdict(list)
    if config.samples:
        for s in check_samples(store, config.samples):
            out[(s.y, s.a)].append(s.id)
        return dict(out)
    if config.groups:
        groups = list(config.groups)
    else:
        classes = config.classes or tuple(range(len(store.class_names)))
        groups = [(y, a) for y in classes for a in range(len(store.attr_names))]
        for y in classes:
            check_class(store, y)
    for y, a in groups:
        check_group(store, y, a)
        out[(y, a)] = train_ids(store, y, a)
    if not config.groups:  # whole classes: skip their empty groups, keep the rest
        out = {g: ids for g, ids in out.items() if ids}
        if not out:
            raise ValueError("the chosen classes have no real train samples")
    empty = [g for g, ids in out.items() if not ids]
    if empty:
        raise ValueError(f"group(s) {empty} have no real train samples")
    return dict(out)


def require_size(what: str, ids: list[int], k: int) -> None:
    if len(ids) < k:
        raise ValueError(
            f"{what} has {len(ids)} train samples, fewer than the subset of {k} asked for"
        )


def contexts_of(store, sample_ids) -> tuple[str, ...]:
    """Each sample's context phrase as the prompts word it ("white stroke, on a red ...")."""
    meta = store.meta()
    samples = store.list_samples(SampleFilter(ids=list(sample_ids)))
    by_id = {s.id: s for s in samples}
    return tuple(group_text(meta, by_id[i].y, by_id[i].a).context_text for i in sample_ids)


def token_name(fmt: str, **values) -> str:
    try:
        return fmt.format(**values)
    except (KeyError, IndexError, ValueError):
        raise ValueError(f"token format {fmt!r} may only use {sorted(values)}") from None
