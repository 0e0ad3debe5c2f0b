"""Training commands: train, runs."""

from __future__ import annotations

import json

from debias_core.cli.common import open_project, progress_printer


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
    result = run_training(open_project(args), config, args.device, progress_printer())
    if args.json:
        summary = {
            "run_id": result.run_id,
            "run_dir": str(result.run_dir),
            "test": result.report.to_dict(),
        }
        print(json.dumps(summary, indent=2))
    else:
        print(format_group_table(result.report))
        print(f"\nrun {result.run_id} written to {result.run_dir}")
    return 0


def cmd_runs(args) -> int:
    from debias_core.evaluate.compare import format_runs_table, runs_table

    rows = runs_table(open_project(args))
    print(json.dumps(rows, indent=2) if args.json else format_runs_table(rows))
    return 0


def add_parsers(sub) -> None:
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
