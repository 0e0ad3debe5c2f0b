"""The generated section: counts per method and job, acceptance by policy and by people, their
agreement, the Fréchet distance to real (when embeddings are cached) and example grids."""

from __future__ import annotations

import shlex
from dataclasses import asdict

from debias_core.analysis.distance_report import DistanceReport, cached_distance_report
from debias_core.report.images import thumb_uri
from debias_core.report.view import (
    GeneratedSection,
    GenerationRow,
    ImageCard,
    MethodGrid,
    ReportOptions,
    Thumb,
)
from debias_core.store import Store
from debias_core.verify.agreement import agreement_report

COUNTED = ("accepted", "rejected")


def chosen_methods(store: Store, options: ReportOptions) -> list[str]:
    """The generation methods to show; an unknown name is refused, listing the valid ones."""
    known = store.recipe_methods()
    if options.methods is None:
        return known
    unknown = [m for m in options.methods if m not in known]
    if unknown:
        valid = ", ".join(known) or "none yet: generate first"
        raise ValueError(f"no generated images of method {unknown[0]!r}; methods: {valid}")
    return list(options.methods)


def generated_section(store: Store, options: ReportOptions, command_root: str) -> GeneratedSection:
    methods = chosen_methods(store, options)
    rows = [r for r in store.generated_status_counts() if r["method"] in methods]
    by_method = _rows(rows, lambda r: (r["method"], None))
    by_job = _rows(rows, lambda r: (r["method"], r["job_id"]))
    jobs = [_with_job_params(store, row) for row in by_job if row.job_id is not None]
    distance, note = _distance(store)
    grids = [_grid(store, m, options, command_root) for m in methods]
    return GeneratedSection(
        by_method,
        jobs,
        agreement_report(store),
        distance,
        note,
        grids,
        store.recipe_backbones(),
    )


def _rows(rows: list[dict], key_of) -> list[GenerationRow]:
    """Sum the store's (method, job, status, person, policy) counts under `key_of`."""
    sums: dict = {}
    for r in rows:
        c = sums.setdefault(key_of(r), dict.fromkeys(GenerationRow.__dataclass_fields__, 0))
        n = r["n"]
        c["total"] += n
        c[r["status"] if r["status"] in COUNTED else "pending"] += n
        if r["person"] in COUNTED:
            c[f"person_{r['person']}"] += n
        policy = {"accepted": "policy_accepted", "rejected": "policy_rejected"}.get(r["policy"])
        if r["policy"] == "needs-review":
            policy = "policy_review"
        if policy:
            c[policy] += n
    out = []
    for (method, job_id), c in sums.items():
        c.update(method=method, job_id=job_id, job_params={})
        out.append(GenerationRow(**c))
    return out


def _with_job_params(store: Store, row: GenerationRow) -> GenerationRow:
    try:
        params = store.get_job(row.job_id).params
    except KeyError:  # the job row is gone; its images stay
        params = {}
    return GenerationRow(**{**asdict(row), "job_params": params})


def _distance(store: Store) -> tuple[DistanceReport | None, str]:
    """From the newest feature space that covers every sample compared; else say how."""
    how = "compute them with python -m debias_core embed DIR (or Embeddings → Compute embeddings)"
    for space in store.embedding_spaces():
        n, have = store.distance_coverage(space["features"], space["model_hash"])
        if n and have == n:
            return cached_distance_report(store, space["features"], space["model_hash"]), ""
    spaces = store.embedding_spaces()
    if spaces:
        best = spaces[0]
        n, have = store.distance_coverage(best["features"], best["model_hash"])
        return None, (
            f"only {have} of the {n} samples compared have {best['features']} embeddings; {how}"
        )
    return None, f"no embeddings yet: {how}, then build this report again"


def _grid(store: Store, method: str, options: ReportOptions, root: str) -> MethodGrid:
    cards = {
        status: [
            _card(store, row, status, options, root)
            for row in store.generated_examples(method, status, options.samples_per_status)
        ]
        for status in COUNTED
    }
    reasons = [r for r in store.person_reasons() if r["method"] == method]  # a few rows
    return MethodGrid(method, cards["accepted"], cards["rejected"], reasons)


def _card(store: Store, row: dict, status: str, options: ReportOptions, root: str) -> ImageCard:
    from debias_core.generate.recipes import artifact_refs  # the generate package loads torch

    recipe = store.get_recipe(row["recipe_id"])
    artifacts = []
    for ref in artifact_refs(recipe):
        try:
            art = store.get_artifact(int(ref["id"]))
            artifacts.append(
                {"id": art.id, "kind": art.kind, "name": art.name, "path": art.path}
                | {"sha256": ref.get("sha256") or art.sha256}
            )
        except KeyError:
            artifacts.append({"id": ref.get("id"), "sha256": ref.get("sha256"), "missing": True})
    thumb = Thumb(row["id"], thumb_uri(store, row["path"], options.thumb_size), _group(store, row))
    command = (
        f"python -m debias_core regenerate {shlex.quote(root)} --sample {row['id']} "
        f"--out sample-{row['id']}.png"
    )
    return ImageCard(
        thumb=thumb,
        status=status,
        person=row["person"],
        reviewer=row["reviewer"],
        reason=row["reason"] or "",
        policy=row["policy"],
        policy_reason=row["policy_reason"] or "",
        job_id=row["job_id"],
        parent_id=row["parent_id"],
        recipe={"recipe_id": recipe.id} | {k: v for k, v in asdict(recipe).items() if k != "id"},
        artifacts=artifacts,
        regenerate=command,
    )


def _group(store: Store, row: dict) -> str:
    classes, attrs = store.class_names, store.attr_names
    y, a = row["y"], row["a"]
    return f"{classes[y] if y < len(classes) else y} / {attrs[a] if a < len(attrs) else a}"
