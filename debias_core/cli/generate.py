"""Generation commands: generate, regenerate."""

from __future__ import annotations

from debias_core.cli.common import open_project, progress_printer


def method_params(args) -> dict:
    """`--param k=v ...` and `--run ID` as the method's raw parameters (coerced by the method)."""
    from debias_core.params import parse_pairs

    params = parse_pairs(args.param or [])
    if args.run is not None:
        params["run"] = args.run
    return params


def cmd_generate(args) -> int:
    from debias_core.generate.runner import build_balanced_set

    ids = build_balanced_set(
        open_project(args),
        backbone_spec=args.backbone,
        per_group=args.per_group,
        seed=args.seed,
        steps=args.steps,
        guidance=args.guidance,
        device=args.device,
        method=args.method,
        progress=progress_printer(),
        batch_size=args.batch_size,
        params=method_params(args),
    )
    print(f"generated {len(ids)} images")
    return 0


def cmd_regenerate(args) -> int:
    from debias_core.generate.recipes import regenerate_sample

    image = regenerate_sample(open_project(args), args.sample, device=args.device)
    image.save(args.out)
    print(f"wrote {args.out}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="generate counterfactuals / a group-balanced synthetic set",
        description="Methods and their parameters: see `python -m debias_core methods`.",
    )
    p.add_argument("dir")
    p.add_argument("--method", default="txt2img")
    p.add_argument(
        "--per-group",
        type=int,
        default=16,
        help="images for each target the method plans (a group; for diffinject a content sample)",
    )
    p.add_argument("--run", type=int, help="the classifier run a method needs (diffinject: gce)")
    p.add_argument(
        "--param", action="append", metavar="KEY=VALUE", help="a method parameter (repeatable)"
    )
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--backbone", default="embedded", help="embedded | sd2 | sd2-1 | PATH")
    p.add_argument("--steps", type=int, help="denoising steps (default: the method's own)")
    p.add_argument("--guidance", type=float, default=4.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("regenerate", help="re-run a generated sample's recipe")
    p.add_argument("dir")
    p.add_argument("--sample", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_regenerate)
