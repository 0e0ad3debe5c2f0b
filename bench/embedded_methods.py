"""Benchmark the training methods on Colored Digits (background-colour bias), embedded backbone.

For each bias ratio and seed: a fresh project (dataset seed 0, so the embedded backbone's world
pool never overlaps the task digits), a group-balanced generated set from the embedded backbone
(generation seed = run seed), then every method through `run_training` (training seed = run
seed). Prints a markdown table of test worst-group / average / balanced accuracy (mean +- std
over seeds), wall time per run and time per epoch, and how far the best generated-data method
lifts worst-group accuracy over ERM and over GroupDRO.

    python bench/embedded_methods.py --quick            # 1 seed, bias 0.99, 3 epochs
    python bench/embedded_methods.py --out bench/results-methods.md
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# key -> (table label, registered method, params, synthetic selection)
METHODS: dict[str, tuple[str, str, dict, str]] = {
    "erm": ("ERM", "erm", {}, "none"),
    "reweight": ("reweight", "reweight", {}, "none"),
    "resample": ("resample", "resample", {}, "none"),
    "class-balanced": ("class-balanced loss", "class-balanced", {}, "none"),
    "groupdro": ("GroupDRO", "groupdro", {}, "none"),
    "jtt": ("JTT", "jtt", {}, "none"),
    "dfr": ("DFR", "dfr", {}, "none"),
    "supcon": ("CE+SupCon (real)", "supcon", {}, "none"),
    "augment-aux": ("augment: auxiliary balancing", "augment-aux", {}, "all"),
    "augment-uniform": ("augment: uniform balancing", "augment-uniform", {}, "all"),
    "ffr": ("FFR two-stage, ERM in stage 2", "ffr", {"stage2": "erm"}, "all"),
    "ffr-groupdro": ("FFR two-stage, GroupDRO in stage 2", "ffr", {"stage2": "groupdro"}, "all"),
    "ffr-llr": ("two-stage + LLR_all", "ffr-llr", {"stage1": "erm"}, "all"),
    "ffr-llr-supcon": ("two-stage (CE+SupCon) + LLR_all", "ffr-llr", {"stage1": "supcon"}, "all"),
    "dbb-retrain": ("DBB retraining (eq. 6-8)", "dbb-retrain", {}, "all"),
}
OPTIONAL = ("class-balanced", "dbb-retrain")
DEFAULT = [k for k in METHODS if k not in OPTIONAL]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 seed, bias 0.99, 3 epochs, 20/group")
    p.add_argument("--out", type=Path, help="also write the markdown (and raw JSON beside it)")
    p.add_argument(
        "--workdir", type=Path, help="keep (and reuse) the projects here; default: a temp folder"
    )
    p.add_argument("--biases", help="comma-separated bias ratios (default 0.99,0.995)")
    p.add_argument("--seeds", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--methods", default=",".join(DEFAULT), help=f"keys: {','.join(METHODS)}")
    p.add_argument("--epochs", type=int, help="epochs per stage (default 12)")
    p.add_argument("--per-group", type=int, help="generated images per group (default 100)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--gen-seed", type=int, default=0, help="seed of the generated set")
    p.add_argument("--guidance", type=float, default=5.0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args(argv)
    # --quick changes only the defaults; explicit flags still win
    defaults = ("0.99", "0", 3, 20) if args.quick else ("0.99,0.995", "0,1,2", 12, 100)
    for name, value in zip(("biases", "seeds", "epochs", "per_group"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    unknown = [m for m in args.methods.split(",") if m not in METHODS]
    if unknown:
        p.error(f"unknown method keys {unknown}; valid: {', '.join(METHODS)}")
    return args


def prepare_project(workdir: Path, bias: float, args, build_balanced_set):
    """The bias's project with its generated set; reused when it already exists.

    The dataset and the generated set are made once per bias ratio (generation seed
    `--gen-seed`); the training seeds vary the classifier's initialisation and batch order.
    """
    seed = args.gen_seed
    from debias_core.data.ingest import create_project
    from debias_core.store import SampleFilter, Store

    folder = workdir / f"bias{bias}"
    t0 = time.perf_counter()
    if (folder / "project.db").exists():
        store = Store.open(folder)
    else:
        options = {"bias_ratio": bias, "spurious": "background"}
        store = create_project(folder, "colored-digits", options=options)
    t1 = time.perf_counter()
    needs_synthetic = any(METHODS[k][3] != "none" for k in args.methods.split(","))
    if needs_synthetic and not store.count_samples(SampleFilter(source="generated")):
        build_balanced_set(
            store,
            backbone_spec="embedded",
            per_group=args.per_group,
            seed=seed,
            steps=args.steps,
            guidance=args.guidance,
            device="cpu",
            progress=None,
        )
    n_generated = store.count_samples(SampleFilter(source="generated"))
    t2 = time.perf_counter()
    print(
        f"[bias {bias}] project {t1 - t0:.1f}s, {n_generated} generated images {t2 - t1:.1f}s",
        flush=True,
    )
    return store


def run_method(store, key: str, seed: int, epochs: int) -> dict:
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    label, method, params, synthetic = METHODS[key]
    config = TrainConfig(
        method=method, epochs=epochs, synthetic=synthetic, seed=seed, params=dict(params)
    )
    start = time.perf_counter()
    result = run_training(store, config)
    wall = time.perf_counter() - start
    report = result.report
    row = {
        "key": key,
        "label": label,
        "seed": seed,
        "run_id": result.run_id,
        "wga": report.worst_group_accuracy,
        "avg": report.average_accuracy,
        "balanced": report.balanced_accuracy,
        "wall_s": wall,
        "epochs_run": len(result.history),
        "s_per_epoch": wall / max(len(result.history), 1),
        "n_synthetic": len(result.synthetic_ids),
    }
    print(
        f"  {label:40s} WGA {100 * row['wga']:5.1f}  avg {100 * row['avg']:5.1f}  "
        f"bal {100 * row['balanced']:5.1f}  {wall:6.1f}s ({row['s_per_epoch']:.2f}s/epoch)",
        flush=True,
    )
    return row


def mean_std(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    mean = statistics.fmean(values) * scale
    std = (statistics.stdev(values) if len(values) > 1 else 0.0) * scale
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def summarise(rows: list[dict], keys: list[str], bias: float, n_seeds: int) -> list[str]:
    lines = [
        f"### Colored Digits, background bias {bias} ({n_seeds} seed{'s' * (n_seeds > 1)})",
        "",
        "| method | test WGA | test avg | test balanced | wall s / run | s / epoch |",
        "|---|---|---|---|---|---|",
    ]
    means = {}
    for key in keys:
        mine = [r for r in rows if r["key"] == key]
        if not mine:
            continue
        means[key] = statistics.fmean(r["wga"] for r in mine)
        lines.append(
            f"| {METHODS[key][0]} | {mean_std([r['wga'] for r in mine])} "
            f"| {mean_std([r['avg'] for r in mine])} "
            f"| {mean_std([r['balanced'] for r in mine])} "
            f"| {mean_std([r['wall_s'] for r in mine], 1.0)} "
            f"| {mean_std([r['s_per_epoch'] for r in mine], 1.0, 2)} |"
        )
    generated = [k for k in means if METHODS[k][3] != "none"]
    if generated and "erm" in means:
        best = max(generated, key=means.get)
        lines += [
            "",
            f"Best generated-data method: {METHODS[best][0]}, WGA "
            f"{100 * means[best]:.1f} vs ERM {100 * means['erm']:.1f} "
            f"({100 * (means[best] - means['erm']):+.1f} points)"
            + (
                f"; GroupDRO (needs group labels) {100 * means['groupdro']:.1f} "
                f"({100 * (means[best] - means['groupdro']):+.1f})."
                if "groupdro" in means
                else "."
            ),
        ]
    return lines + [""]


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        from debias_core.jobs.foreground import build_balanced_set
    except ImportError as exc:
        print(f"cannot import debias_core.jobs.foreground.build_balanced_set: {exc}")
        return 2
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    biases = [float(b) for b in args.biases.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    keys = args.methods.split(",")
    print(
        f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, device cpu",
        flush=True,
    )
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-methods-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for bias in biases:
            store = prepare_project(workdir, bias, args, build_balanced_set)
            for seed in seeds:
                for key in keys:
                    rows.append({"bias": bias, **run_method(store, key, seed, args.epochs)})
    settings = (
        f"epochs {args.epochs}, {args.per_group} generated images per group, "
        f"{args.steps} DDIM steps, guidance {args.guidance}, torch threads "
        f"{torch.get_num_threads()}"
    )
    lines = ["## Training methods on Colored Digits (embedded backbone)", "", settings, ""]
    for bias in biases:
        lines += summarise([r for r in rows if r["bias"] == bias], keys, bias, len(seeds))
    text = "\n".join(lines)
    print("\n" + text)
    if args.out:
        args.out.write_text(text + "\n")
        args.out.with_suffix(".json").write_text(json.dumps(rows, indent=2))
        print(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
