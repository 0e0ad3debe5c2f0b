"""Project commands: init, stats, export."""

from __future__ import annotations

import json
from pathlib import Path

from debias_core.cli.common import open_project, progress_printer


def cmd_init(args) -> int:
    from debias_core.data.ingest import create_project

    options = json.loads(args.options) if args.options else {}
    if args.dataset == "colored-digits":
        options |= {"bias_ratio": args.bias_ratio, "spurious": args.spurious, "seed": args.seed}
        options |= {"style": args.style}
    elif args.root is None:
        raise ValueError(f"--root PATH is required for dataset {args.dataset!r}")
    store = create_project(Path(args.dir), args.dataset, args.root, options, progress_printer())
    print(f"created project {args.dir}: {store.count_samples()} samples")
    return 0


def cmd_stats(args) -> int:
    from debias_core.bias.stats import format_stats_table, group_stats, stats_as_dicts

    stats = group_stats(open_project(args))
    print(json.dumps(stats_as_dicts(stats), indent=2) if args.json else format_stats_table(stats))
    return 0


def cmd_export(args) -> int:
    from debias_core.data.export import export_project

    n = export_project(open_project(args), Path(args.out), args.generated, args.status)
    print(f"wrote {n} samples and metadata.csv to {args.out}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("init", help="create a project from a dataset")
    p.add_argument("dir")
    p.add_argument(
        "--dataset",
        default="colored-digits",
        help="colored-digits | waterbirds | celeba | metashift | metadata-csv | folder-csv",
    )
    p.add_argument("--root", help="the dataset folder (not for colored-digits)")
    p.add_argument("--bias-ratio", type=float, default=0.99)
    p.add_argument("--spurious", choices=["background", "stroke"], default="background")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--style",
        choices=["plain", "thick", "slant", "noisy"],
        default="plain",
        help="colored-digits: how the task images are drawn (the embedded model saw plain only)",
    )
    p.add_argument("--options", help='adapter options as JSON, e.g. \'{"target": "Blond_Hair"}\'')
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("stats", help="the per-group table")
    p.add_argument("dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("export", help="write images + a SubpopBench-style metadata.csv")
    p.add_argument("dir")
    p.add_argument("--out", required=True)
    p.add_argument("--generated", action="store_true", help="include generated samples")
    p.add_argument("--status", choices=["all", "accepted"], default="accepted")
    p.set_defaults(func=cmd_export)
