"""Generation commands: generate, regenerate."""

from __future__ import annotations

import sys

from debias_core.cli.common import (
    add_device_arg,
    add_executor_args,
    add_project_arg,
    executor_choice,
    lists_names,
    non_negative_float,
    open_project,
    positive_int,
    progress_printer,
    seed_int,
)
from debias_core.limits import JobLimits

DEFAULT_LIMITS = JobLimits()


def method_params(args) -> dict:
    """`--param k=v ...` and `--run ID` as the method's raw parameters (coerced by the method)."""
    from debias_core.params import parse_pairs

    params = parse_pairs(args.param or [])
    if args.run is not None:
        params["run"] = args.run
    return params


def cmd_generate(args) -> int:
    from debias_core.generate import GenerateConfig
    from debias_core.jobs.foreground import run_generation

    executor = executor_choice(args)
    limits = JobLimits.from_env().with_overrides(
        per_group=args.max_per_group,
        groups=args.max_groups,
        steps=args.max_steps,
        batch_size=args.max_batch_size,
    )
    config = GenerateConfig(
        method=args.method,
        backbone=args.backbone,
        per_group=args.per_group,
        seed=args.seed,
        steps=args.steps,
        guidance=args.guidance,
        batch_size=args.batch_size,
        params=method_params(args),
    )
    run = run_generation(
        open_project(args),
        config,
        args.device,
        limits=limits,
        progress=progress_printer(),
        executor=executor,
    )
    if run.action != "created":
        print(run.note, file=sys.stderr)
    print(f"generated {len(run.sample_ids)} images (job {run.job_id})")
    return 0


def cmd_regenerate(args) -> int:
    from debias_core.generate.recipes import replay_sample

    replay = replay_sample(open_project(args), args.sample, device=args.device)
    replay.image.save(args.out)
    print(f"wrote {args.out}")
    print(replay.describe())
    return 0


def generator_names() -> list[str]:
    from debias_core.generate import GENERATORS

    return GENERATORS.names()


def backbone_names() -> list[str]:
    from debias_core.models.backbone import BACKBONES

    return [*BACKBONES.names(), "or the path of a diffusers-format folder"]


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="generate counterfactuals / a group-balanced synthetic set",
        description="Generate images for the groups (or targets) a method plans, as a resumable "
        "job. Running it again with the same settings resumes an interrupted job or reports the "
        "finished one: no duplicate images. Methods and their parameters: "
        "`python -m debias_core methods`.",
    )
    add_project_arg(p)
    lists_names(
        p.add_argument("--method", default="txt2img", help="generation method"), generator_names
    )
    lists_names(
        p.add_argument("--backbone", default="embedded", help="diffusion backbone"), backbone_names
    )
    p.add_argument(
        "--per-group",
        type=positive_int,
        default=16,
        help="images for each target the method plans (a group; diffinject: a content "
        "sample; decouplegen: a (source, new context) pair; dbb: a (source, target class) pair)",
    )
    p.add_argument(
        "--run",
        type=positive_int,
        help="the classifier run a method needs (diffinject: gce; dbb: erm)",
    )
    p.add_argument(
        "--param", action="append", metavar="KEY=VALUE", help="a method parameter (repeatable)"
    )
    p.add_argument(
        "--steps", type=positive_int, help="denoising steps per image (default: the method's own)"
    )
    p.add_argument(
        "--guidance", type=non_negative_float, default=4.0, help="classifier-free guidance scale"
    )
    p.add_argument("--batch-size", type=positive_int, default=8, help="images per work unit")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the whole job")
    add_device_arg(p)
    add_executor_args(p)
    limits = p.add_argument_group(
        "job-size limits", "refuse oversized requests before queuing (also DEBIAS_STUDIO_LIMITS)"
    )
    for flag, name, what in (
        ("--max-per-group", "per_group", "largest --per-group accepted"),
        ("--max-groups", "groups", "most target groups in one job"),
        ("--max-steps", "steps", "largest --steps accepted"),
        ("--max-batch-size", "batch_size", "largest --batch-size accepted"),
    ):
        default = getattr(DEFAULT_LIMITS, name)
        limits.add_argument(flag, type=positive_int, metavar="N", help=f"{what} ({default})")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("regenerate", help="re-run a generated sample's recipe")
    add_project_arg(p)
    p.add_argument("--sample", type=positive_int, required=True, help="the generated sample's id")
    p.add_argument("--out", required=True, help="the PNG file to write")
    add_device_arg(p)
    p.set_defaults(func=cmd_regenerate)
