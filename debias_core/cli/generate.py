"""Generation commands: generate, regenerate."""

from __future__ import annotations

from debias_core.cli.common import open_project, progress_printer


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
    p = sub.add_parser("generate", help="generate a group-balanced synthetic set")
    p.add_argument("dir")
    p.add_argument("--method", default="txt2img")
    p.add_argument("--per-group", type=int, default=16)
    p.add_argument("--backbone", default="embedded", help="embedded | sd2 | sd2-1 | PATH")
    p.add_argument("--steps", type=int, default=20)
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
