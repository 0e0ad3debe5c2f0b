"""The project database schema, as ordered migrations (sqlite-utils `Migrations`).

Tables are created explicitly (never inferred from a first row). A new schema change is a new
migration appended at the bottom; opening an older project applies the missing ones.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from debias_core.store.paths import relocate

FORMAT = "debias-studio-project"
MIGRATIONS = Migrations("debias_studio")


def job_config_key(kind: str, params_json: str) -> str:
    """Equal for two jobs of the same kind whose params serialize to the same sorted JSON."""
    return hashlib.sha256(f"{kind}\n{params_json}".encode()).hexdigest()


@MIGRATIONS(name="0001_core")
def _core(db: Database) -> None:
    db["project"].create({"key": str, "value": str}, pk="key")
    db["samples"].create(
        {
            "id": int,
            "path": str,  # relative to the project folder, content-addressed
            "sha256": str,
            "y": int,
            "a": int,
            "split": str,
            "source": str,  # 'real' | 'generated'
            "parent_id": int,  # the real sample a generated one was made from (may be null)
            "recipe_id": int,
            "job_id": int,
            "unit_key": str,  # the job work unit that produced it (resume without duplicates)
            "meta": str,  # JSON
            "created_at": str,
        },
        pk="id",
        not_null={"path", "sha256", "y", "a", "split", "source", "created_at"},
    )
    db["samples"].create_index(["source", "split", "y", "a"])
    db["samples"].create_index(["job_id", "unit_key"])
    db["recipes"].create(
        {
            "id": int,
            "method": str,
            "backbone_id": str,
            "backbone_hash": str,
            "source_ids": str,  # JSON list of sample ids
            "prompt": str,
            "negative_prompt": str,
            "tokens": str,  # JSON: learned token files / names
            "adapters": str,  # JSON: LoRA adapter files / names
            "mask_id": int,
            "seed": int,
            "scheduler": str,
            "steps": int,
            "guidance": float,
            "params": str,  # JSON: method parameters
            "created_at": str,
        },
        pk="id",
        not_null={"method", "backbone_id", "seed", "created_at"},
    )
    db["masks"].create(
        {
            "id": int,
            "sample_id": int,
            "kind": str,  # 'exact' | 'text-prompted' | 'object'
            "label": str,  # the object / text prompt the mask is of
            "path": str,
            "params": str,
            "created_at": str,
        },
        pk="id",
        not_null={"kind", "path", "created_at"},
    )
    db["masks"].create_index(["sample_id"])
    db["scores"].create(
        {
            "id": int,
            "sample_id": int,
            "scorer": str,
            "run_id": int,
            "value": float,
            "details": str,
            "created_at": str,
        },
        pk="id",
        not_null={"sample_id", "scorer", "created_at"},
    )
    db["scores"].create_index(["sample_id", "scorer"])
    db["decisions"].create(
        {
            "id": int,
            "sample_id": int,
            "decision": str,  # 'accept' | 'reject' | 'undo'
            "reviewer": str,
            "reason": str,
            "created_at": str,
        },
        pk="id",
        not_null={"sample_id", "decision", "reviewer", "created_at"},
    )
    db["decisions"].create_index(["sample_id"])
    # Derived from `decisions` in the same transaction as each insert, so filters stay fast.
    db["curation"].create({"sample_id": int, "status": str, "decision_id": int}, pk="sample_id")
    db["curation"].create_index(["status"])


@MIGRATIONS(name="0002_jobs_runs")
def _jobs_runs(db: Database) -> None:
    db["jobs"].create(
        {
            "id": int,
            "kind": str,
            "params": str,
            "status": str,  # queued | running | done | failed | cancelled | interrupted
            "progress": float,
            "message": str,
            "error": str,
            "result": str,  # JSON summary a finished job returns
            "units_done": int,
            "units_total": int,
            "cancel_requested": int,
            "pid": int,
            "heartbeat_at": str,
            "created_at": str,
            "started_at": str,
            "finished_at": str,
        },
        pk="id",
        not_null={"kind", "status", "created_at"},
        defaults={"progress": 0.0, "units_done": 0, "units_total": 0, "cancel_requested": 0},
    )
    db["job_units"].create(
        {"job_id": int, "unit_key": str, "done_at": str}, pk=("job_id", "unit_key")
    )
    db["runs"].create(
        {
            "id": int,
            "kind": str,  # 'train' | 'eval'
            "method": str,
            "config": str,
            "status": str,
            "metrics": str,  # JSON: final report + per-epoch history
            "synthetic_ids": str,  # JSON list of generated sample ids the run trained on
            "dir": str,
            "job_id": int,
            "created_at": str,
            "finished_at": str,
        },
        pk="id",
        not_null={"kind", "method", "status", "created_at"},
    )


@MIGRATIONS(name="0003_multilabel")
def _multilabel(db: Database) -> None:
    # COCO-Stuff style data: a label set per sample and the biased (b, c) pairs of the dataset.
    db["sample_labels"].create({"sample_id": int, "label": int}, pk=("sample_id", "label"))
    db["label_names"].create({"label": int, "name": str}, pk="label")
    db["biased_pairs"].create({"b": int, "c": int, "bias_score": float}, pk=("b", "c"))


@MIGRATIONS(name="0004_job_ownership")
def _job_ownership(db: Database) -> None:
    # Which process owns a job (host, pid, start time as JSON: a reused PID is not the owner),
    # and a key of (kind, canonical params) to find an equivalent job instead of duplicating it.
    db["jobs"].add_column("owner", str)
    db["jobs"].add_column("config_key", str)
    for row in list(db.query("select id, kind, params from jobs")):
        key = job_config_key(row["kind"], row["params"] or "{}")
        db.execute("update jobs set config_key = ? where id = ?", [key, row["id"]])
    db["jobs"].create_index(["kind", "config_key"])


@MIGRATIONS(name="0005_curation")
def _curation(db: Database) -> None:
    # Feature vectors per (extractor spec, weights hash, sample): float32 bytes, computed once.
    db["embeddings"].create(
        {
            "features": str,
            "model_hash": str,
            "sample_id": int,
            "dim": int,
            "vector": bytes,
            "created_at": str,
        },
        pk=("features", "model_hash", "sample_id"),
        not_null={"dim", "vector", "created_at"},
    )
    # 2-D coordinates of one set of samples: ids (int64) and xy (float32, N x 2) as bytes, so a
    # 50,000-point view is one row read, not 50,000.
    db["projections"].create(
        {
            "id": int,
            "features": str,
            "model_hash": str,
            "method": str,  # 'pca' | 'umap'
            "params": str,  # JSON: the method's parameters and seed
            "set_key": str,  # sha256 of the sorted sample ids: a changed set is a new projection
            "n": int,
            "ids": bytes,
            "xy": bytes,
            "seconds": float,
            "job_id": int,
            "created_at": str,
        },
        pk="id",
        not_null={"features", "model_hash", "method", "set_key", "n", "ids", "xy", "created_at"},
    )
    db["projections"].create_index(["features", "method", "model_hash", "set_key"])
    # Tags: every add / remove is an event row (append-only); sample_tags is derived from them in
    # the same transaction, like `curation` from `decisions`.
    db["tag_events"].create(
        {
            "id": int,
            "sample_id": int,
            "tag": str,
            "action": str,  # 'add' | 'remove'
            "reviewer": str,
            "reason": str,
            "created_at": str,
        },
        pk="id",
        not_null={"sample_id", "tag", "action", "reviewer", "created_at"},
    )
    db["tag_events"].create_index(["sample_id"])
    db["sample_tags"].create(
        {"sample_id": int, "tag": str, "event_id": int}, pk=("sample_id", "tag")
    )
    db["sample_tags"].create_index(["tag"])
    # Saved views: a named filter + sort, as JSON.
    db["saved_views"].create(
        {"name": str, "filter": str, "sort": str, "created_at": str, "updated_at": str},
        pk="name",
        not_null={"filter", "sort", "created_at", "updated_at"},
    )


@MIGRATIONS(name="0006_artifacts")
def _artifacts(db: Database) -> None:
    # Learned personalization files (tokens, LoRA adapters) under the project's artifacts/ folder.
    db["artifacts"].create(
        {
            "id": int,
            "kind": str,  # 'token' | 'lora'
            "scope": str,  # 'image' | 'class' | 'group' | 'cluster'
            "method": str,  # the personalizer that made it
            "concept": str,  # the concept key within its job (one concept: tokens + a LoRA)
            "name": str,  # the token, or the adapter name
            "sample_ids": str,  # JSON list: the samples it learned from
            "y": int,
            "a": int,
            "cluster": int,
            "config": str,  # JSON: the job's config and the method's parameters
            "loss_curve": str,  # JSON list of per-step losses
            "path": str,  # relative to the project folder
            "sha256": str,  # content hash of the file
            "backbone_id": str,
            "backbone_hash": str,
            "job_id": int,
            "unit_key": str,
            "meta": str,  # JSON
            "created_at": str,
        },
        pk="id",
        not_null={"kind", "scope", "method", "concept", "path", "sha256", "created_at"},
    )
    db["artifacts"].create_index(["job_id", "concept"])
    db["artifacts"].create_index(["method", "kind"])


@MIGRATIONS(name="0007_verify")
def _verify(db: Database) -> None:
    # Masks record where they came from: the segmenter, its text prompt and the model's hash.
    masks = db["masks"]
    for column in ("segmenter", "prompt", "model_hash"):
        masks.add_column(column, str)
    # Masks a dataset ships are the `dataset` segmenter's; older text-prompted ones have no record
    # of their model, so they keep an explicit 'unknown' source.
    db.execute(
        "update masks set segmenter = case when kind in ('exact', 'object') then 'dataset'"
        " else 'unknown' end, prompt = label"
    )
    masks.create_index(["sample_id", "segmenter", "prompt"])
    # Decisions come from a person or from a verdict policy (reviewer 'policy:<name>').
    db["decisions"].add_column("origin", str)
    db.execute("update decisions set origin = 'person'")
    db["decisions"].create_index(["origin", "reviewer", "sample_id"])
    # The derived state keeps both sides: a person's status outranks a policy's.
    db["curation"].add_column("person_status", str)
    db["curation"].add_column("policy_status", str)
    db.execute("update curation set person_status = status")
    db["scores"].create_index(["scorer", "sample_id"])


@MIGRATIONS(name="0008_read_groups")
def _read_groups(db: Database) -> None:
    # The group a judge reads in a generated image, next to the one it is recorded in (samples.y,
    # samples.a). `y` / `a` are null where the judge does not read that part (a segmenter's class
    # check reads no context); `agrees` is 0 when what it reads differs from the recorded group.
    # Append-only: a newer reading by the same judge supersedes an older one.
    db["read_groups"].create(
        {
            "id": int,
            "sample_id": int,
            "judge": str,  # the scorer that read it
            "y": int,
            "a": int,
            "agrees": int,
            "created_at": str,
        },
        pk="id",
        not_null={"sample_id", "judge", "agrees", "created_at"},
    )
    db["read_groups"].create_index(["sample_id", "judge"])


# The folder each table's files live under, inside the project.
_STORED_PATHS = (("runs", "dir", "runs"), ("artifacts", "path", "artifacts"))
_STORED_PATHS += (("samples", "path", "files"), ("masks", "path", "files"))


@MIGRATIONS(name="0009_relative_paths")
def _relative_paths(db: Database) -> None:
    # Older versions stored a training run's folder relative to the working directory `train`
    # ran in (or absolute): a copied project then read the original's model. Every stored path
    # becomes relative to the project folder, the one this database file lies in.
    files = [r[2] for r in db.execute("PRAGMA database_list").fetchall() if r[1] == "main"]
    root = Path(files[0]).parent if files and files[0] else Path.cwd()
    for table, column, top in _STORED_PATHS:
        rows = db.execute(f"select rowid, {column} from {table} where {column} != ''").fetchall()
        for rowid, value in rows:
            fixed = relocate(value, top, root)
            if fixed != value:
                db.execute(f"update {table} set {column} = ? where rowid = ?", [fixed, rowid])


@MIGRATIONS(name="0010_recipe_machine")
def _recipe_machine(db: Database) -> None:
    # The machine kind a recipe was drawn on (JSON: device, processor, instruction set, torch,
    # threads): a replay is bit-exact only on the same kind. Older recipes keep it empty.
    db["recipes"].add_column("machine", str)


@MIGRATIONS(name="0011_biased_pair_provenance")
def _biased_pair_provenance(db: Database) -> None:
    # A biased pair is measured (Singh et al.: a standard multi-label classifier's bias score):
    # the run that measured it, its rank among the kept pairs, and how many evaluation images
    # held b with c (co-occur) and b without c (exclusive).
    pairs = db["biased_pairs"]
    for column, kind in (
        ("run_id", int),
        ("rank", int),
        ("n_cooccur", int),
        ("n_exclusive", int),
        ("created_at", str),
    ):
        pairs.add_column(column, kind)
