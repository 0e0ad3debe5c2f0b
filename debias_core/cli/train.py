"""Training commands: train, runs, compare (the demo comparison)."""

from __future__ import annotations

import argparse
import json

from debias_core.cli.common import (
    add_device_arg,
    add_project_arg,
    json_object,
    lists_names,
    open_project,
    positive_float,
    positive_int,
    progress_printer,
    seed_int,
)
from debias_core.models import DEFAULT_ARCH


def cmd_train(args) -> int:
    from debias_core.evaluate.compare import standard_run
    from debias_core.evaluate.report import format_group_table
    from debias_core.evaluate.uncertainty import intervals_dict
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    params = json_object(args.params, "--params")
    config = TrainConfig(
        method=args.method,
        arch=args.arch,
        epochs=args.epochs,
        seed=args.seed,
        synthetic=args.synthetic,
        synthetic_method=args.synthetic_method,
        synthetic_job=args.synthetic_job,
        keep_disputed=args.keep_disputed,
        lr=args.lr,
        batch_size=args.batch_size,
        augment=args.augment,
        params=params,
    )
    store = open_project(args)
    result = run_training(store, config, args.device, progress_printer())
    standard = None if result.multilabel is None else standard_run(store, args.seed, result.run_id)
    if args.json:
        summary = {"run_id": result.run_id, "run_dir": str(result.run_dir)}
        if result.report is not None:
            summary["test"] = result.report.to_dict()
            summary["test_intervals"] = intervals_dict(result.report)  # 95%: Wilson, bootstrap
        if result.multilabel is not None:
            summary["multilabel"] = result.multilabel.to_dict()  # intervals: 95% bootstrap
            summary["standard"] = standard and {
                "run_id": standard.id,
                "multilabel": standard.metrics["multilabel"],
            }
        summary["set_aside"] = result.set_aside
        print(json.dumps(summary, indent=2))
    else:
        if result.multilabel is not None:
            print(multilabel_text(result.multilabel, standard) + "\n")
        if result.report is not None:
            print(format_group_table(result.report))
        if result.set_aside:
            print(f"\n{result.set_aside} generated samples set aside: a judge reads them in "
                  "another group (--keep-disputed keeps them)")  # fmt: skip
        print(f"\nrun {result.run_id} written to {result.run_dir}")
    return 0


def multilabel_text(report, standard) -> str:
    from debias_core.evaluate.multilabel import MultiLabelReport, format_multilabel_report

    if standard is None:
        return format_multilabel_report(report) + "\n(no standard multilabel-bce run to compare)"
    other = MultiLabelReport.from_dict(standard.metrics["multilabel"])
    return format_multilabel_report(report, other, f"run {standard.id}")


def cmd_compare(args) -> int:
    from debias_core.evaluate.uncertainty import estimate_dict
    from debias_core.jobs.comparison import DEMO, comparison_of_job
    from debias_core.jobs.foreground import run_now

    params = {
        "per_group": args.per_group or DEMO.per_group,
        "epochs": args.epochs or DEMO.epochs,
        "seeds": args.seeds,
        "augment": args.augment or DEMO.augment,
    }
    store = open_project(args)
    ran = run_now(store, "compare", params, args.device, progress_printer())
    _, summary = comparison_of_job(store, ran.job.id)
    if not args.json:
        print(summary.markdown())
        print(f"\ncomparison job {ran.job.id}; its runs: python -m debias_core runs {store.root}")
        return 0
    sides = {
        key: {
            "label": s.label,
            "runs": list(s.run_ids),
            "worst_groups": list(s.worst_groups),
            "worst_group": estimate_dict(s.worst_group),
        }
        for key, s in (("baseline", summary.baseline), ("method", summary.method))
    }
    lift = estimate_dict(summary.lift.estimate) | {
        "significant": summary.lift.significant,
        "paired_by_seed": summary.paired_by_seed,
    }
    print(json.dumps({"job": ran.job.id, **sides, "lift": lift}, indent=2))
    return 0


def seed_list(text: str) -> list[int]:
    """'0,1,2' -> [0, 1, 2] (each a seed)."""
    seeds = [seed_int(part.strip()) for part in text.split(",") if part.strip()]
    if not seeds:
        raise argparse.ArgumentTypeError("needs one or more seeds, e.g. 0 or 0,1,2")
    return seeds


def cmd_runs(args) -> int:
    from debias_core.evaluate.compare import format_multilabel_runs, format_runs_table, runs_table

    rows = runs_table(open_project(args))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(format_runs_table(rows))
    multilabel = format_multilabel_runs(rows)
    if multilabel:
        print("\n" + multilabel)
    return 0


def cmd_bias_pairs(args) -> int:
    from debias_core.bias.stats import format_pair_table, pair_rows
    from debias_core.jobs.foreground import run_bias_pairs

    store = open_project(args)
    params = {"k": args.k, "min_cooccur": args.min_cooccur, "split": args.split}
    params |= {"run": args.run, "epochs": args.epochs, "seed": args.seed, "arch": args.arch}
    result = run_bias_pairs(store, args.device, progress_printer(), **params)
    rows = pair_rows(store)
    if args.json:
        print(json.dumps({"run_id": result["run_id"], "biased_pairs": rows}, indent=2))
    else:
        print(format_pair_table(rows))
    return 0


def method_names() -> list[str]:
    from debias_core.train import TRAIN_METHODS

    return TRAIN_METHODS.names()


def augment_names() -> list[str]:
    from debias_core.train.image_augment import IMAGE_AUGMENTATIONS

    return IMAGE_AUGMENTATIONS.names()


def arch_names() -> list[str]:
    from debias_core.models.classifiers import CLASSIFIERS

    return CLASSIFIERS.names()


def add_parsers(sub) -> None:
    p = sub.add_parser("train", help="train + evaluate a method; prints the per-group table")
    add_project_arg(p)
    lists_names(p.add_argument("--method", default="erm", help="training method"), method_names)
    arch = p.add_argument("--arch", default=DEFAULT_ARCH, help="classifier")
    lists_names(arch, arch_names)
    p.add_argument(
        "--synthetic",
        choices=["none", "all", "accepted"],
        default="none",
        help="generated samples to train on as well",
    )
    p.add_argument(
        "--synthetic-method",
        help="only generated samples of this generation method (e.g. dbb), to compare methods "
        "in one project",
    )
    p.add_argument(
        "--synthetic-job", type=positive_int, help="only generated samples of this generation job"
    )
    p.add_argument(
        "--keep-disputed",
        action="store_true",
        help="also train on generated samples a judge reads in another group than their own "
        "(set aside by default)",
    )
    p.add_argument("--epochs", type=positive_int, default=12, help="training epochs")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="learning rate")
    p.add_argument("--batch-size", type=positive_int, default=128, help="batch size")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the run")
    augment = p.add_argument(
        "--augment", default="none", help="random augmentation of the training images"
    )
    lists_names(augment, augment_names)
    p.add_argument("--params", help="method parameters as a JSON object, e.g. '{\"eta\": 0.01}'")
    add_device_arg(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "bias-pairs",
        help="find the biased (object, context) pairs of a multi-label project",
        description="Singh et al. (CVPR 2020): train a standard multi-label classifier (or "
        "reuse one with --run), compute the bias score of each object b with every context "
        "that co-occurs with it in more than --min-cooccur of its train images, keep b's "
        "highest, then the top K pairs; stored in the project (stats and the Groups tab show "
        "them) and used by the multi-label training methods. Runs as a resumable job.",
    )
    add_project_arg(p)
    p.add_argument(
        "--k", type=positive_int, help="pairs kept (default 20, or the dataset's designed count)"
    )
    p.add_argument(
        "--min-cooccur",
        type=float,
        default=0.1,
        help="candidate contexts co-occur with b in more than this share of its train images",
    )
    p.add_argument(
        "--split", choices=["val", "test", "train"], default="val",
        help="held-out images the bias score is measured on",
    )  # fmt: skip
    p.add_argument("--run", type=positive_int, help="reuse this finished multilabel-bce run")
    p.add_argument("--epochs", type=positive_int, default=12, help="epochs of the classifier")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the classifier")
    arch = p.add_argument("--arch", default=DEFAULT_ARCH, help="classifier")
    lists_names(arch, arch_names)
    add_device_arg(p)
    p.add_argument("--json", action="store_true", help="print the pairs as JSON")
    p.set_defaults(func=cmd_bias_pairs)

    p = sub.add_parser(
        "compare",
        help="the demo comparison: generate txt2img, train ERM and txt2img + FFR per seed, print "
        "both worst groups with 95%% intervals and the lift (the Train & Evaluate tab's button)",
    )
    add_project_arg(p)
    p.add_argument("--per-group", type=positive_int, help="generated images per group (16)")
    p.add_argument("--epochs", type=positive_int, help="training epochs per stage (6)")
    p.add_argument("--seeds", type=seed_list, default=[0], help="training seeds: 0 or 0,1,2")
    augment = p.add_argument("--augment", help="augmentation of both sides' training images")
    lists_names(augment, augment_names)
    add_device_arg(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("runs", help="compare the project's training runs")
    add_project_arg(p)
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(func=cmd_runs)
