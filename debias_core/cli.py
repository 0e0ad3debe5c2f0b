"""`python -m debias_core`: the pipeline without the UI.

Every command prints a one-line error and exits with status 2 on bad input; long work prints
progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

EXPECTED_ERRORS = (ValueError, KeyError, FileExistsError, FileNotFoundError, PermissionError)


def progress_printer(prefix: str = ""):
    """A progress callback that prints at most a few lines per second to stderr."""
    last = [0.0]

    def report(fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - last[0] > 0.5 or fraction >= 1.0:
            last[0] = now
            print(f"{prefix}[{fraction:6.1%}] {message}", file=sys.stderr, flush=True)

    return report


def _open(args):
    from debias_core.store import Store

    return Store.open(Path(args.dir))


def cmd_init(args) -> int:
    from debias_core.data.ingest import create_project

    options = json.loads(args.options) if args.options else {}
    if args.dataset == "colored-digits":
        options |= {"bias_ratio": args.bias_ratio, "spurious": args.spurious, "seed": args.seed}
    elif args.root is None:
        raise ValueError(f"--root PATH is required for dataset {args.dataset!r}")
    store = create_project(Path(args.dir), args.dataset, args.root, options, progress_printer())
    print(f"created project {args.dir}: {store.count_samples()} samples")
    return 0


def cmd_stats(args) -> int:
    from debias_core.bias.stats import format_stats_table, group_stats, stats_as_dicts

    stats = group_stats(_open(args))
    print(json.dumps(stats_as_dicts(stats), indent=2) if args.json else format_stats_table(stats))
    return 0


def cmd_train(args) -> int:
    from debias_core.evaluate.report import format_group_table
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    params = json.loads(args.params) if args.params else {}
    config = TrainConfig(
        method=args.method,
        arch=args.arch,
        epochs=args.epochs,
        seed=args.seed,
        synthetic=args.synthetic,
        lr=args.lr,
        batch_size=args.batch_size,
        params=params,
    )
    result = run_training(_open(args), config, args.device, progress_printer())
    if args.json:
        print(
            json.dumps(
                {
                    "run_id": result.run_id,
                    "run_dir": str(result.run_dir),
                    "test": result.report.to_dict(),
                },
                indent=2,
            )
        )
    else:
        print(format_group_table(result.report))
        print(f"\nrun {result.run_id} written to {result.run_dir}")
    return 0


def cmd_runs(args) -> int:
    from debias_core.evaluate.compare import format_runs_table, runs_table

    rows = runs_table(_open(args))
    print(json.dumps(rows, indent=2) if args.json else format_runs_table(rows))
    return 0


def cmd_export(args) -> int:
    from debias_core.data.export import export_project

    n = export_project(_open(args), Path(args.out), args.generated, args.status)
    print(f"wrote {n} samples and metadata.csv to {args.out}")
    return 0


def cmd_generate(args) -> int:
    from debias_core.generate.runner import build_balanced_set

    ids = build_balanced_set(
        _open(args),
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

    image = regenerate_sample(_open(args), args.sample, device=args.device)
    image.save(args.out)
    print(f"wrote {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m debias_core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

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
    p.add_argument("--options", help='adapter options as JSON, e.g. \'{"target": "Blond_Hair"}\'')
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("stats", help="the per-group table")
    p.add_argument("dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("train", help="train + evaluate a method; prints the per-group table")
    p.add_argument("dir")
    p.add_argument("--method", default="erm")
    p.add_argument("--arch", default="small-cnn")
    p.add_argument("--synthetic", choices=["none", "all", "accepted"], default="none")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--params", help="method parameters as JSON")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("runs", help="compare the project's training runs")
    p.add_argument("dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("export", help="write images + a SubpopBench-style metadata.csv")
    p.add_argument("dir")
    p.add_argument("--out", required=True)
    p.add_argument("--generated", action="store_true", help="include generated samples")
    p.add_argument("--status", choices=["all", "accepted"], default="accepted")
    p.set_defaults(func=cmd_export)

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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except json.JSONDecodeError as exc:
        print(f"error: invalid JSON option: {exc}", file=sys.stderr)
    except EXPECTED_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 2
