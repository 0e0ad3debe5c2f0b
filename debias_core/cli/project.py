"""Project commands: init, stats, export."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from debias_core.cli.common import (
    add_project_arg,
    json_object,
    lists_names,
    open_project,
    progress_printer,
    seed_int,
)


def cmd_init(args) -> int:
    from debias_core.data.ingest import create_project

    options = json_object(args.options, "--options")
    flags = {
        "bias_ratio": args.bias_ratio,
        "spurious": args.spurious,
        "seed": args.seed,
        "style": args.style,
    }
    flags = {k: v for k, v in flags.items() if v is not None}  # only the flags given
    if args.dataset == "colored-digits-multilabel" and args.spurious is not None:
        raise ValueError("--spurious is for colored-digits only (here the colour is a context)")
    if args.dataset in ("colored-digits", "colored-digits-multilabel"):
        options |= flags
    elif flags:
        raise ValueError(f"--{next(iter(flags)).replace('_', '-')} is for colored-digits only")
    elif args.root is None:
        raise ValueError(f"--root PATH is required for dataset {args.dataset!r}")
    store = create_project(Path(args.dir), args.dataset, args.root, options, progress_printer())
    print(f"created project {args.dir}: {store.count_samples()} samples")
    return 0


def cmd_stats(args) -> int:
    from debias_core.bias.stats import (
        format_pair_table,
        format_stats_table,
        group_stats,
        pair_rows,
        stats_as_dicts,
    )
    from debias_core.data.world_split import leak_warning

    store = open_project(args)
    warning = leak_warning(store.meta())
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    stats = group_stats(store)
    multilabel = store.is_multilabel()
    if args.json:
        groups = stats_as_dicts(stats)
        # a multi-label project adds its biased pairs: {"groups": [...], "biased_pairs": [...]}
        out = {"groups": groups, "biased_pairs": pair_rows(store)} if multilabel else groups
        print(json.dumps(out, indent=2))
        return 0
    print(format_stats_table(stats))
    if multilabel:
        print("\n" + format_pair_table(pair_rows(store)))
    return 0


def cmd_export(args) -> int:
    from debias_core.data.export import export_project

    n = export_project(open_project(args), Path(args.out), args.generated, args.status)
    print(f"wrote {n} samples and metadata.csv to {args.out}")
    return 0


def dataset_names() -> list[str]:
    from debias_core.data import DATASETS

    return DATASETS.names()


def bias_ratio(text: str) -> float:
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text!r}") from None
    if not (math.isfinite(value) and 0 < value <= 1):
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text!r}")
    return value


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "init",
        help="create a project from a dataset",
        description="Create a project folder from a dataset. The dataset is validated first and "
        "the project is built in a hidden sibling folder, renamed into place when complete: a "
        "crash or a full disk leaves no half-made project.",
    )
    p.add_argument("dir", help="the new project folder (must not exist, or be empty)")
    dataset = p.add_argument("--dataset", default="colored-digits", help="dataset adapter")
    lists_names(dataset, dataset_names)
    p.add_argument("--root", help="the dataset folder (every dataset but the colored-digits ones)")
    p.add_argument(
        "--bias-ratio",
        type=bias_ratio,
        help="colored-digits: share of each class's train images in its aligned colour, i.e. "
        "1 - rho of LfF's Colored MNIST (default 0.99 = 1%% bias-conflicting)",
    )
    p.add_argument(
        "--spurious",
        choices=["background", "stroke"],
        help="colored-digits: what the colour paints (default background)",
    )
    p.add_argument("--seed", type=seed_int, help="colored-digits: seed (default 0)")
    p.add_argument(
        "--options", help='adapter options as a JSON object, e.g. \'{"target": "Blond_Hair"}\''
    )
    p.add_argument(
        "--style",
        choices=["plain", "thick", "slant", "noisy"],
        help="colored-digits: how the task images are drawn; the embedded model saw plain only "
        "(default plain)",
    )
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("stats", help="the per-group table")
    add_project_arg(p)
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser(
        "export",
        help="write images + a SubpopBench-readable metadata.csv",
        description="Write images/ and metadata.csv (filename, y, a, split with split 0/1/2 = "
        "train/val/test, as SubpopBench reads it) to a new folder.",
    )
    add_project_arg(p)
    p.add_argument("--out", required=True, help="the folder to write (new or empty)")
    p.add_argument("--generated", action="store_true", help="include generated samples")
    p.add_argument(
        "--status",
        choices=["all", "accepted"],
        default="accepted",
        help="which generated samples (with --generated)",
    )
    p.set_defaults(func=cmd_export)
