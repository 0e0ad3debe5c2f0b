"""Curation commands: embed, distance, review (the queue as a list), tag, curation-export,
curation-import.

`embed` and the embedding part of `distance` run as persisted jobs (kinds `embed` and `umap`) in
this process, so an interrupted run resumes where it stopped and the app sees their progress.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from debias_core.analysis.review import READINGS, STATUSES
from debias_core.cli.common import (
    add_device_arg,
    add_project_arg,
    lists_names,
    open_project,
    positive_int,
    progress_printer,
    seed_int,
)
from debias_core.cli.generate import generator_names
from debias_core.ids import parse_ids


def run_persisted_job(store, kind: str, params: dict, device: str, label: str) -> dict:
    """Validate, submit and run one job in this thread, printing its progress; its summary.

    A failed job raises `JobFailed` (a RuntimeError: one line and exit status 1 in `main`).
    """
    from debias_core.jobs.foreground import run_now

    return run_now(store, kind, params, device, progress_printer(f"{label} ")).job.result


def cmd_embed(args) -> int:
    from debias_core.analysis.embeddings import EmbedConfig

    store = open_project(args)
    params = asdict(EmbedConfig(features=args.features, batch_size=args.batch_size))
    result = run_persisted_job(store, "embed", params, args.device, "embed")
    print(result["message"])
    if args.umap:
        umap = {"features": args.features, "seed": args.seed}
        print(run_persisted_job(store, "umap", umap, args.device, "umap")["message"])
    return 0


def cmd_distance(args) -> int:
    from debias_core.analysis.distance_report import (
        DistanceConfig,
        distance_report,
        format_distance_table,
    )
    from debias_core.analysis.embeddings import EmbedConfig

    store = open_project(args)
    config = DistanceConfig(
        features=args.features, status=args.status, reference_split=args.reference
    )
    config.check_inputs()
    # Vectors first, as a persisted job (resumable); the report then reads them from the cache.
    run_persisted_job(store, "embed", asdict(EmbedConfig(args.features)), args.device, "embed")
    report = distance_report(store, config, args.device)
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_distance_table(report))
    return 0


def cmd_review(args) -> int:
    """The Review queue as lines (or JSON): each sample's recorded group, what each judge reads,
    and its status; a person decides in the app, or with `curation-import`."""
    from debias_core.analysis.review import ReviewFilter, review_listing

    status = None if args.status == "any" else args.status
    reading = None if args.reading == "any" else args.reading
    where = ReviewFilter(method=args.method, job_id=args.job, status=status, reading=reading)
    rows = review_listing(open_project(args), where, args.limit)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        reads = "; ".join(
            f"{j['judge']} reads {j['group']}" + ("" if j["agrees"] else " (disagrees)")
            for j in r["read_groups"]
        )
        print(f"#{r['id']} {r['method']} {r['status']}: {r['recorded_group']}"
              + (f" | {reads}" if reads else ""))  # fmt: skip
    print(f"{len(rows)} samples")
    return 0


def cmd_tag(args) -> int:
    from debias_core.analysis.selection import apply_to_selection

    ids = _parse_ids(args.ids)
    action = "untag" if args.remove else "tag"
    result = apply_to_selection(
        open_project(args),
        ids,
        action,
        args.reviewer,
        tags=args.remove or args.add,
        reason=args.reason,
        confirmed=True,  # typing the ids is the confirmation
    )
    print(result.message())
    return 0


def cmd_curation_export(args) -> int:
    from debias_core.data.curation_io import write_curation_csv

    out = Path(args.out)
    if out.exists():
        raise FileExistsError(f"{out} exists; choose a new file name")
    n = write_curation_csv(open_project(args), out)
    print(f"wrote {n} rows to {out}")
    return 0


def cmd_curation_import(args) -> int:
    from debias_core.data.curation_io import import_curation_csv

    store = open_project(args)
    result = import_curation_csv(store, Path(args.csv), args.reviewer, not args.no_sha256_check)
    print(result.message())
    return 0


def _parse_ids(text: str) -> list[int]:
    try:
        return parse_ids(text, "sample id", "12,13,40")
    except ValueError as exc:
        raise ValueError(f"--ids: {exc}") from None


def _features_help() -> str:
    from debias_core.analysis.features import FEATURES

    return (
        f"feature extractor: {' | '.join(FEATURES.names())} (clip = the embedded tiny CLIP; "
        "clip:vit-b-32 / clip:vit-l-14 = OpenAI CLIP from local files; run:ID = a trained run)"
    )


def add_parsers(sub) -> None:
    p = sub.add_parser("embed", help="cache image embeddings of every sample (a resumable job)")
    add_project_arg(p)
    p.add_argument("--features", default="clip", help=_features_help())
    p.add_argument("--umap", action="store_true", help="then compute the 2-D UMAP view (a job)")
    p.add_argument("--batch-size", type=positive_int, default=256, help="images per work unit")
    p.add_argument("--seed", type=seed_int, default=0, help="UMAP seed")
    add_device_arg(p)
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser(
        "distance", help="Fréchet distance of generated to real: overall, per group/job/method"
    )
    add_project_arg(p)
    p.add_argument("--features", default="clip", help=_features_help())
    p.add_argument(
        "--status",
        choices=["all", "accepted", "pending", "rejected"],
        default="all",
        help="which generated samples to compare",
    )
    p.add_argument("--reference", default="test", help="real split to compare with: test or val")
    add_device_arg(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_distance)

    p = sub.add_parser(
        "review", help="list the Review queue: recorded group, what judges read, status"
    )
    add_project_arg(p)
    p.add_argument(
        "--reading",
        choices=["any", *READINGS],
        default="any",
        help="disputed: a judge reads another group than the recorded one (stats and training "
        "set these aside until a person accepts them); agrees: no judge disagrees",
    )
    p.add_argument(
        "--status", choices=["any", *STATUSES], default="any", help="curation status to list"
    )
    lists_names(
        p.add_argument("--method", default=None, help="only this generation method's samples"),
        generator_names,
    )
    p.add_argument("--job", type=positive_int, default=None, help="only this job's samples")
    p.add_argument("--limit", type=positive_int, default=200, help="list at most this many")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(func=cmd_review)

    p = sub.add_parser("tag", help="add or remove tags on samples (recorded, append-only)")
    add_project_arg(p)
    p.add_argument("--ids", required=True, help="sample ids, e.g. 12,13,40")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--add", help="tags to add, separated by commas")
    group.add_argument("--remove", help="tags to remove, separated by commas")
    p.add_argument("--reason", default="", help="why, recorded with the change")
    p.add_argument("--reviewer", default="cli", help="name recorded with the change")
    p.set_defaults(func=cmd_tag)

    p = sub.add_parser("curation-export", help="write decisions and tags as curation.csv")
    add_project_arg(p)
    p.add_argument("--out", required=True, help="the CSV file to write (must not exist)")
    p.set_defaults(func=cmd_curation_export)

    p = sub.add_parser(
        "curation-import", help="apply a curation CSV (statuses and tags; all rows or none)"
    )
    add_project_arg(p)
    p.add_argument("--csv", required=True, help="the curation CSV to apply")
    p.add_argument("--reviewer", default="cli", help="name recorded with the decisions")
    p.add_argument(
        "--no-sha256-check",
        action="store_true",
        help="apply a file without sha256 values (nothing checks its ids are this project's)",
    )
    p.set_defaults(func=cmd_curation_import)


__all__ = ["add_parsers", "run_persisted_job"]
