"""Personalization commands: personalize (a persisted job), artifacts (what was learned)."""

from __future__ import annotations

import json

from debias_core.cli.common import (
    add_device_arg,
    add_executor_args,
    add_project_arg,
    executor_choice,
    lists_names,
    open_project,
    positive_int,
    progress_printer,
    seed_int,
)
from debias_core.ids import parse_ids


def parse_group(text: str) -> list[int]:
    try:
        y, a = (int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"a group is written y,a (two integers), got {text!r}") from None
    return [y, a]


def parse_samples(text: str) -> list[int]:
    """--samples: at least one id (an empty list would silently mean "every class")."""
    try:
        return parse_ids(text, "sample id", "12,40,41")
    except ValueError as exc:
        raise ValueError(f"--samples: {exc}") from None


def parse_param(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"--param takes key=value, got {text!r}")
    return key.strip(), value.strip()


def personalize_params(args) -> dict:
    """Flags -> `PersonalizeConfig` fields (checked by the job's validation before queuing)."""
    return {
        "method": args.method,
        "backbone": args.backbone,
        "samples": parse_samples(args.samples) if args.samples is not None else [],
        "groups": [parse_group(g) for g in args.groups or []],
        "classes": list(args.classes or []),
        "steps": args.steps,
        "batch": args.batch,
        "seed": args.seed,
        "mixed_precision": args.mixed_precision,
        "gradient_checkpointing": args.gradient_checkpointing,
        "params": dict(parse_param(p) for p in args.param or []),
    }


def cmd_personalize(args) -> int:
    from debias_core.jobs.foreground import run_personalization

    executor = executor_choice(args)
    store = open_project(args)
    job_id = run_personalization(
        store,
        personalize_params(args),
        device=args.device,
        progress=progress_printer(),
        executor=executor,
    )
    artifacts = store.list_artifacts(job_id=job_id)
    print(f"job {job_id}: {store.get_job(job_id).result.get('message', '')}")
    print(format_artifacts(artifacts))
    return 0


def artifact_row(artifact) -> dict:
    return {
        "id": artifact.id,
        "kind": artifact.kind,
        "scope": artifact.scope,
        "method": artifact.method,
        "concept": artifact.concept,
        "name": artifact.name,
        "samples": len(artifact.sample_ids),
        "final_loss": round(artifact.loss_curve[-1], 5) if artifact.loss_curve else None,
        "job": artifact.job_id,
        "sha256": artifact.sha256[:12],
        "path": artifact.path,
    }


def format_artifacts(artifacts) -> str:
    if not artifacts:
        return "no artifacts yet (python -m debias_core personalize DIR --method ...)"
    rows = [artifact_row(a) for a in artifacts]
    keys = ["id", "kind", "scope", "method", "concept", "name", "samples", "final_loss", "job"]
    keys += ["sha256", "path"]
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in keys}
    lines = ["  ".join(k.ljust(widths[k]) for k in keys)]
    lines += ["  ".join(str(r[k]).ljust(widths[k]) for k in keys) for r in rows]
    return "\n".join(lines)


def cmd_artifacts(args) -> int:
    store = open_project(args)
    artifacts = store.list_artifacts(job_id=args.job, method=args.method)
    if args.json:
        full = [
            artifact_row(a)
            | {
                "sample_ids": list(a.sample_ids),
                "sha256": a.sha256,
                "loss_curve": list(a.loss_curve),
                "y": a.y,
                "a": a.a,
                "cluster": a.cluster,
            }
            for a in artifacts
        ]
        print(json.dumps(full, indent=2))
    else:
        print(format_artifacts(artifacts))
    return 0


def personalizer_names() -> list[str]:
    from debias_core.personalize import PERSONALIZERS

    return PERSONALIZERS.names()


def add_parsers(sub) -> None:
    from debias_core.cli.generate import backbone_names

    p = sub.add_parser(
        "personalize",
        help="learn tokens / LoRA adapters (a resumable job)",
        description="Learn tokens and / or LoRA adapters per concept (class, group, cluster or "
        "image) as a resumable job; each concept is written as diffusers-loadable files.",
    )
    add_project_arg(p)
    lists_names(
        p.add_argument("--method", required=True, help="personalization method"),
        personalizer_names,
    )
    targets = p.add_mutually_exclusive_group()
    targets.add_argument("--samples", help="sample ids, e.g. 12,40,41")
    targets.add_argument("--groups", nargs="+", metavar="Y,A", help="(class, context) groups")
    targets.add_argument("--classes", nargs="+", type=int, metavar="Y", help="class indices")
    p.add_argument("--steps", type=positive_int, default=200, help="optimisation steps")
    p.add_argument(
        "--batch", type=positive_int, default=16, help="concepts trained together per step"
    )
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the whole job")
    p.add_argument(
        "--param", action="append", metavar="KEY=VALUE", help="a method parameter (repeatable)"
    )
    lists_names(
        p.add_argument("--backbone", default="embedded", help="diffusion backbone"),
        backbone_names,
    )
    add_device_arg(p)
    add_executor_args(p)
    p.add_argument(
        "--mixed-precision",
        choices=["no", "bf16", "fp16"],
        default="no",
        help="GPU option: autocast the forward passes",
    )
    p.add_argument(
        "--gradient-checkpointing",
        action="store_true",
        help="GPU option: recompute activations to save memory",
    )
    p.set_defaults(func=cmd_personalize)

    p = sub.add_parser("artifacts", help="list learned tokens and adapters with provenance")
    add_project_arg(p)
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.add_argument("--job", type=positive_int, help="only this personalization job's artifacts")
    lists_names(
        p.add_argument("--method", help="only this personalization method's artifacts"),
        personalizer_names,
    )
    p.set_defaults(func=cmd_artifacts)
