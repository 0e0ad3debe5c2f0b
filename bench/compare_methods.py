"""All five papers' methods on the same data, one table per (variant, bias) — issue 12 §6.

Colored Digits (background colour), drawn `plain` (like the embedded model's world pool) or in a
shifted style the embedded model never saw (`slant` by default), at bias 0.99 and 0.999. Rows
(the recipe table is `bench/compare_pipelines.py`):

- real data only: ERM, GroupDRO, JTT, DFR;
- txt2img (vanilla prompts) + FFR two-stage (ERM / GroupDRO in stage 2);
- DiffInject (GCE run, top-K contents), ERM on real + every generated image (as the paper),
  and beside it the judge-filtered row (real + accepted, named so);
- one row per other registered generator (DBB, DecoupleGen, Clustered DreamBooth once merged),
  with its own policy and training method; one not registered in this build gets a row saying
  "not available in this build", never a number.

Columns: test worst-group, worst-class, average and balanced accuracy (mean ± the half-width of
its 95% Student-t interval over every (dataset seed, training seed) run), the lift in WGA over
ERM paired by those seeds (significant only when its 95% interval excludes 0); per
generator also the acceptance rate of its policy, the Fréchet distance of its images to the real
test images of the same groups in the embedded CLIP's space (with the real-train floor drawn with
as many images), images per second and total wall time (preparing runs + generating + verifying,
plus one training run).

The dataset and each generated set are made once per (variant, bias, dataset seed) with
`--gen-seed`; `--dataset-seeds` redraw the dataset (`init --seed`), the seeds vary the
classifier's initialisation and batch order. `--arch` picks the classifier (default: the
project's default; rows made with `small-cnn` before it was replaced keep their old setting).
Every finished row is written at once to the raw JSON (`--raw`, rewritten atomically), so a crash
loses at most the row in flight, and a rerun with the same sizes skips the rows already there (rows
"not available" or failed are retried). Generation and verification run as persisted jobs in a
per-method copy of the project under `--workdir`, so an interrupted generation resumes.

    python bench/compare_methods.py --smoke                 # 1 seed, plain, bias 0.99, tiny sizes
    # issue 16's comparison at demo sizes, ~50 CPU minutes (two processes: ~25 min on an idle
    # 2-core CPU): ERM, GroupDRO, txt2img + FFR (head-only stage 2), each also with affine
    # augmentation; 8 images per group, 5 epochs; plain and slant at 0.99 and 0.999; dataset
    # seeds 0,1,2 x training seed 0
    for v in plain slant; do python bench/compare_methods.py --quick --variants $v & done
    # issue 16's table: the same rows with 30 images per group (the item's most) and 3 dataset
    # seeds x 3 training seeds, ~150 CPU minutes (two processes: ~75 min on an idle 2-core CPU)
    for v in plain slant; do python bench/compare_methods.py --table --variants $v & done
    # the personalized generators beside txt2img on the shifted style (issue 16 item 6)
    python bench/compare_methods.py --quick --variants slant --biases 0.99 --methods \
        erm,ffr-llr2,clustered-dreambooth,clustered-dreambooth-ffr-llr2,\
clustered-dreambooth-judged-ffr-llr2,decouplegen,decouplegen-ffr-llr2
    # ... and with affine augmentation of the training images (any row key + "-affine" that
    # compare_pipelines.AUGMENTED lists)
    python bench/compare_methods.py --quick --seeds 0,1,2 --variants slant --biases 0.99 \
        --methods ffr-llr2-affine,clustered-dreambooth-judged-ffr-llr2-affine
    nice -n 15 python bench/compare_methods.py --threads 1 --per-group 5 --epochs 10 \\
        --variants plain,slant --biases 0.99,0.999 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # runnable as a plain script
sys.path.insert(0, str(HERE))

from compare_pipelines import PIPELINES, SOURCES, Pipeline, Source  # noqa: E402
from compare_tables import fmt, table, verdict_lines  # noqa: E402

from debias_core.models import DEFAULT_ARCH  # noqa: E402

NOT_AVAILABLE = "not available in this build"
DEFAULT_RAW = HERE / "raw" / "compare_methods.json"


# -- arguments -----------------------------------------------------------------------------------
# issue 16's rows (--quick, --table): the baselines and the demo's pipeline, each with and without
# affine augmentation of the training images
TABLE_ROWS = ("erm", "groupdro", "ffr-llr2", "erm-affine", "groupdro-affine", "ffr-llr2-affine")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="1 seed, plain, bias 0.99, tiny sizes")
    p.add_argument(
        "--quick",
        action="store_true",
        help="issue 16's table cut to fit 30 minutes: erm, groupdro, ffr-llr2, each also with "
        "affine augmentation; 8 images per group, 5 epochs, dataset seeds 0,1,2 x training seed "
        "0, 1 torch thread",
    )
    p.add_argument(
        "--table",
        action="store_true",
        help="issue 16's table: --quick's rows with 30 images per group and training seeds "
        "0,1,2 (3 dataset seeds x 3 training seeds; ~150 CPU minutes)",
    )
    p.add_argument("--variants", help="styles, comma-separated (default plain,slant)")
    p.add_argument("--biases", help="bias ratios, comma-separated (default 0.99,0.999)")
    p.add_argument("--seeds", help="training seeds, comma-separated (default 0,1,2)")
    p.add_argument("--dataset-seeds", help="dataset seeds, comma-separated (default 0)")
    p.add_argument("--arch", default=DEFAULT_ARCH, help="classifier every row trains")
    p.add_argument("--methods", help=f"row keys (default: all): {','.join(PIPELINES)}")
    p.add_argument("--per-group", type=int, help="images per target the method plans (def. 5)")
    p.add_argument("--epochs", type=int, help="training epochs per stage (default 10)")
    p.add_argument("--gce-epochs", type=int, help="epochs of DiffInject's GCE run (default 6)")
    p.add_argument("--steps", type=int, help="denoising steps (default: each method's own)")
    p.add_argument("--guidance", type=float, default=4.0)
    p.add_argument("--batch-size", type=int, default=8, help="images per generation unit")
    p.add_argument("--gen-seed", type=int, default=0, help="seed of every generated set")
    p.add_argument("--features", default="clip", help="feature space of the Fréchet distance")
    p.add_argument("--dataset-options", default="{}", help="extra Colored Digits options (JSON)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--workdir", type=Path, help="projects live (and are reused) here")
    p.add_argument("--raw", type=Path, default=DEFAULT_RAW, help="raw rows (JSON)")
    p.add_argument("--out", type=Path, help="also write the markdown tables here")
    p.add_argument(
        "--tables-only", action="store_true", help="print the tables from --raw, run nothing"
    )
    args = p.parse_args(argv)
    # --smoke / --quick change only the defaults; explicit flags still win
    smoke = {"variants": "plain", "biases": "0.99", "seeds": "0", "per_group": 2, "epochs": 1,
             "gce_epochs": 1, "steps": 4, "dataset_seeds": "0"}  # fmt: skip
    quick = {"variants": "plain,slant", "biases": "0.99,0.999", "seeds": "0", "per_group": 8,
             "epochs": 5, "gce_epochs": 5, "steps": None, "dataset_seeds": "0,1,2",
             "methods": ",".join(TABLE_ROWS), "threads": 1}  # fmt: skip
    full = {"variants": "plain,slant", "biases": "0.99,0.999", "seeds": "0,1,2", "per_group": 5,
            "epochs": 10, "gce_epochs": 6, "steps": None, "dataset_seeds": "0"}  # fmt: skip
    table = quick | {"per_group": 30, "seeds": "0,1,2"}
    chosen = smoke if args.smoke else table if args.table else quick if args.quick else full
    for name, value in chosen.items():
        if getattr(args, name) in (None, 0):
            setattr(args, name, value)
    args.methods = args.methods or ",".join(default_methods())
    valid = list(PIPELINES) + [m for m in default_methods() if m not in PIPELINES]
    unknown = [m for m in split(args.methods) if m not in valid]
    if unknown:
        p.error(f"unknown method keys {unknown}; valid: {', '.join(valid)}")
    try:
        args.options = json.loads(args.dataset_options)
    except json.JSONDecodeError as exc:
        p.error(f"--dataset-options is not JSON: {exc}")
    if not isinstance(args.options, dict) or {"bias_ratio", "style", "seed"} & set(args.options):
        p.error(
            "--dataset-options must be a JSON object without bias_ratio / style / seed "
            "(see --biases, --variants, --dataset-seeds)"
        )
    args.workdir = args.workdir or Path(tempfile.gettempdir()) / "compare-methods"
    return args


def split(text: str) -> list[str]:
    return [part.strip() for part in str(text).split(",") if part.strip()]


def default_methods() -> list[str]:
    """Every row of the recipe table, plus one per registered generator it has no recipe for."""
    from debias_core.generate import GENERATORS

    known = {s.generator for s in SOURCES.values()}
    return list(PIPELINES) + [f"generator:{g}" for g in GENERATORS.names() if g not in known]


def setting_of(args) -> str:
    """The sizes a row was measured with: a rerun skips only rows of the same setting."""
    options = json.dumps(args.options, sort_keys=True) if args.options else ""
    arch = "" if args.arch == "small-cnn" else f"-{args.arch}"  # old rows: small-cnn, no suffix
    return (
        f"pg{args.per_group}-ep{args.epochs}-gce{args.gce_epochs}-st{args.steps or 'def'}"
        f"-g{args.guidance:g}-gs{args.gen_seed}-{args.features}{'-' + options if options else ''}"
        f"{arch}"
    )


# -- raw rows ------------------------------------------------------------------------------------
class RawLog:
    """The raw rows, keyed. Each put re-reads the file under a lock, replaces its row and rewrites
    the file atomically: a crash loses nothing, and processes running other cells (one per
    variant, say) can share one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict] = self._read()

    def _read(self) -> list[dict]:
        return json.loads(self.path.read_text())["rows"] if self.path.exists() else []

    @staticmethod
    def key(row: dict) -> tuple:
        fields = ("kind", "setting", "variant", "bias", "method", "seed")
        return (*(row.get(k) for k in fields), row.get("dataset_seed", 0))

    def get(self, **fields) -> dict | None:
        """The row with these key fields, if any."""
        return next((r for r in self.rows if self.key(r) == self.key(fields)), None)

    def finished(self, **fields) -> dict | None:
        """The done row with these key fields, if any."""
        row = self.get(**fields)
        return row if row is not None and row["status"] == "done" else None

    def put(self, row: dict) -> dict:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.rows = [r for r in self._read() if self.key(r) != self.key(row)] + [row]
            tmp = self.path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps({"rows": self.rows}, indent=1))
            os.replace(tmp, self.path)
        return row

    def reload(self) -> None:
        self.rows = self._read()


# -- projects ------------------------------------------------------------------------------------
def cell_folder(args, variant: str, bias: float, dataset_seed: int) -> Path:
    """Where one (variant, bias, dataset seed)'s projects live (seed 0 keeps the old name)."""
    suffix = f"-ds{dataset_seed}" if dataset_seed else ""
    return args.workdir / f"{variant}-bias{bias}{suffix}"


def base_project(args, variant: str, bias: float, dataset_seed: int = 0):
    """The (variant, bias, dataset seed) project with real data only; real-data rows train here."""
    from debias_core.data.ingest import create_project
    from debias_core.store import Store

    folder = cell_folder(args, variant, bias, dataset_seed) / "base"
    if (folder / "project.db").exists():
        return Store.open(folder)
    options = {"spurious": "background"} | args.options | {"bias_ratio": bias, "style": variant}
    return create_project(folder, "colored-digits", options=options | {"seed": dataset_seed})


def source_project(args, base, variant: str, bias: float, source_key: str, dataset_seed: int = 0):
    """A copy of the base project for one generator's set (training reads every generated
    sample of a project, so each set needs its own). Real features are embedded in the base
    first, so every copy inherits them."""
    from debias_core.analysis.embeddings import EmbedConfig, embed_missing
    from debias_core.store import SampleFilter, Store

    cell = cell_folder(args, variant, bias, dataset_seed)
    folder = cell / f"{source_key}-{setting_hash(args)}"
    if (folder / "project.db").exists():
        return Store.open(folder)
    same = SOURCES[source_key].same_images_as
    if same is not None:  # its images are another source's: copy that project (made first)
        base = Store.open(cell / f"{same}-{setting_hash(args)}")
    real = [s.id for s in base.list_samples(SampleFilter(source="real"))]
    embed_missing(base, EmbedConfig(args.features), args.device, sample_ids=real)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(base.root, partial)
    os.replace(partial, folder)
    return Store.open(folder)


def setting_hash(args) -> str:
    import hashlib

    return hashlib.sha256(setting_of(args).encode()).hexdigest()[:10]


def classifier_run(store, kind: str, args) -> tuple[int, float]:
    """(run id, seconds spent) of the run a source needs: reused when one is done already."""
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    epochs = args.gce_epochs if kind == "gce" else args.epochs
    for run in store.list_runs("train"):
        same = run.config.get("epochs") == epochs and run.config.get("seed") == 0
        if run.method == kind and run.status == "done" and same:
            return run.id, 0.0
    start = time.perf_counter()
    config = TrainConfig(method=kind, arch=args.arch, epochs=epochs, seed=0)
    result = run_training(store, config, args.device)
    return result.run_id, time.perf_counter() - start


# -- availability --------------------------------------------------------------------------------
def chosen_policy(source: Source) -> str | None:
    from debias_core.verify import POLICIES

    return next((p for p in source.policies if p in POLICIES), None)


def why_unavailable(method: str) -> str | None:
    """None when every registered name a row needs is in this build, else what is missing."""
    from debias_core.generate import GENERATORS
    from debias_core.train import TRAIN_METHODS
    from debias_core.train.image_augment import IMAGE_AUGMENTATIONS

    if method.startswith("generator:"):
        return (
            f"generator {method.split(':', 1)[1]!r} is registered but has no recipe in "
            "bench/compare_pipelines.py"
        )
    pipeline = PIPELINES[method]
    if pipeline.train not in TRAIN_METHODS:
        return f"training method {pipeline.train!r} is {NOT_AVAILABLE}"
    if pipeline.augment not in IMAGE_AUGMENTATIONS:
        return f"image augmentation {pipeline.augment!r} is {NOT_AVAILABLE}"
    if pipeline.source is None:
        return None
    source = SOURCES[pipeline.source]
    if source.generator not in GENERATORS:
        return f"generator {source.generator!r} is {NOT_AVAILABLE}"
    if chosen_policy(source) is None:
        return f"none of the policies {list(source.policies)} is {NOT_AVAILABLE}"
    return None


# -- one generated set ---------------------------------------------------------------------------
def make_source(args, store, source_key: str) -> dict:
    """Prepare the run it needs, generate (a persisted job), verify, and measure the set."""
    from debias_core.generate import GenerateConfig
    from debias_core.jobs.foreground import run_generation, run_verify
    from debias_core.store import SampleFilter

    source = SOURCES[source_key]
    params, policy_params, prepare_s = dict(source.params), dict(source.policy_params), 0.0
    if source.needs_run:
        run_id, prepare_s = classifier_run(store, source.needs_run, args)
        params["run"] = run_id
        if source.policy_gets_run:
            policy_params["run"] = run_id
    config = GenerateConfig(
        method=source.generator,
        per_group=source.per_group or args.per_group,
        seed=args.gen_seed,
        steps=args.steps,
        guidance=args.guidance,
        batch_size=args.batch_size,
        params=params,
    )
    before = store.count_samples(SampleFilter(source="generated"))
    start = time.perf_counter()
    generated = run_generation(store, config, args.device)
    generate_s = time.perf_counter() - start
    # a resumed job made only part of its images in this call: rate those
    made_now = store.count_samples(SampleFilter(source="generated")) - before
    policy = chosen_policy(source)
    start = time.perf_counter()
    verdicts = run_verify(
        store, args.device, policy=policy, params=policy_params, job=generated.job_id
    )
    verify_s = time.perf_counter() - start
    images = len(generated.sample_ids)
    counts = verdicts["counts"]
    return {
        "generator": source.generator,
        "personalized": source.personalized,
        "params": params,
        "policy": policy,
        "policy_params": policy_params,
        "images": images,
        "accepted": counts["accept"],
        "rejected": counts["reject"],
        "needs_review": counts["needs-review"],
        "acceptance": counts["accept"] / max(images, 1),
        "job_action": generated.action,
        "prepare_s": prepare_s,
        "generate_s": generate_s,
        "verify_s": verify_s,
        "images_made_now": made_now,
        "images_per_s": made_now / generate_s if made_now and generate_s > 0 else None,
        **frechet(store, args),
    }


def frechet(store, args) -> dict:
    """Fréchet distance of the generated set (all, and accepted) to the real test images of the
    same groups, and the floor: as many real train images of those groups to the same test set."""
    from debias_core.analysis.distance_report import DistanceConfig, distance_report

    out = {"features": args.features}
    for status in ("all", "accepted"):
        report = distance_report(store, DistanceConfig(args.features, status=status), args.device)
        overall = next((r for r in report.rows if r.scope == "overall"), None)
        suffix = "" if status == "all" else "_accepted"
        out[f"frechet{suffix}"] = overall.distance if overall else None
        out[f"frechet_floor{suffix}"] = overall.floor if overall else None
        out[f"frechet_n{suffix}"] = overall.n_generated if overall else 0
    return out


# -- one training row ----------------------------------------------------------------------------
def train_row(args, store, pipeline: Pipeline, seed: int) -> dict:
    from debias_core.evaluate.uncertainty import report_intervals
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    config = TrainConfig(
        method=pipeline.train,
        arch=args.arch,
        epochs=args.epochs,
        synthetic=pipeline.synthetic,
        augment=pipeline.augment,
        seed=seed,
        params=dict(pipeline.train_params),
    )
    start = time.perf_counter()
    result = run_training(store, config, args.device)
    report = result.report
    intervals = report_intervals(report)
    return {
        "wga": report.worst_group_accuracy,
        "wga_low": intervals.worst_group.low,
        "wga_high": intervals.worst_group.high,
        "worst_n": intervals.worst_group.n,
        "worst_class": intervals.worst_class.value,
        "avg": report.average_accuracy,
        "balanced": report.balanced_accuracy,
        "train_s": time.perf_counter() - start,
        "run_id": result.run_id,
        "n_synthetic": len(result.synthetic_ids),
        # generated images a judge reads in another group than their own: left out of training
        "set_aside": result.set_aside,
    }


def attempt(log: RawLog, row: dict, work) -> dict:
    """Run `work()` into a row: done, not run (a ValueError: missing input, no accepted images),
    or failed (anything else, with its last line); the bench goes on either way."""
    try:
        return log.put(row | {"status": "done"} | work())
    except ValueError as exc:
        return log.put(row | {"status": "not run", "note": str(exc).splitlines()[0]})
    except Exception as exc:  # noqa: BLE001  (one row fails, the table still comes)
        traceback.print_exc()
        return log.put(row | {"status": "failed", "note": f"{type(exc).__name__}: {exc}"})


# -- the loop ------------------------------------------------------------------------------------
def run_cell(
    args, log: RawLog, variant: str, bias: float, methods: list[str], dataset_seed: int = 0
) -> None:
    """Every chosen row for one (variant, bias, dataset seed): the generated sets first, then
    seed by seed every row, so a run cut short still has whole rows (with fewer seeds)."""
    cell = {"setting": setting_of(args), "variant": variant, "bias": bias,
            "dataset_seed": dataset_seed}  # fmt: skip
    base = base_project(args, variant, bias, dataset_seed)
    by_source: dict[str | None, list[str]] = {}
    for method in methods:
        missing = why_unavailable(method)
        if missing:
            say(f"[{variant} {bias}] {method}: {missing}")
            log.put({"kind": "train", **cell, "method": method, "seed": None,
                     "status": "not available", "note": missing})  # fmt: skip
            continue
        by_source.setdefault(PIPELINES[method].source, []).append(method)
    stores = {None: base}
    for source_key in generation_order([k for k in by_source if k is not None]):
        store = source_project(args, base, variant, bias, source_key, dataset_seed)
        if generated_set(args, log, cell, store, source_key):
            stores[source_key] = store
            continue
        made = log.get(kind="generation", **cell, method=source_key, seed=None) or {}
        note = f"its generated set: {made.get('status')}: {made.get('note', '')}"
        for method in by_source.pop(source_key, []):
            log.put({"kind": "train", **cell, "method": method, "seed": None,
                     "status": "not run", "note": note})  # fmt: skip
    runnable = [m for members in by_source.values() for m in members]
    for seed in [int(s) for s in split(args.seeds)]:
        for method in runnable:
            if log.finished(kind="train", **cell, method=method, seed=seed):
                continue
            pipeline = PIPELINES[method]
            row = {"kind": "train", **cell, "method": method, "seed": seed,
                   "label": pipeline.label}  # fmt: skip
            store = stores[pipeline.source]
            done = attempt(log, row, lambda s=store, p=pipeline, x=seed: train_row(args, s, p, x))
            say(f"  [{variant} {bias}] {summary_of_train(done)}")


def generation_order(keys: list[str]) -> list[str]:
    """The sources to make, each after the source whose images it copies (added if missing)."""
    out: list[str] = []
    for key in keys:
        same = SOURCES[key].same_images_as
        if same is not None and same not in out:
            out.append(same)
        if key not in out:
            out.append(key)
    return out


def generated_set(args, log: RawLog, cell: dict, store, source_key: str) -> bool:
    """Make (or find in the raw rows and the project) one source's generated set; True when it
    is there. A set the raw rows have but the project lacks (a new --workdir) is made again."""
    from debias_core.store import SampleFilter

    made = store.count_samples(SampleFilter(source="generated")) > 0
    if made and log.finished(kind="generation", **cell, method=source_key, seed=None):
        return True
    say(f"[{cell['variant']} {cell['bias']}] generating: {source_key}")
    row = {"kind": "generation", **cell, "method": source_key, "seed": None}
    made = attempt(log, row, lambda: make_source(args, store, source_key))
    say(f"  {summary_of_source(made)}")
    return made["status"] == "done"


def say(text: str) -> None:
    print(text, flush=True)


def summary_of_source(row: dict) -> str:
    if row["status"] != "done":
        return f"{row['method']}: {row['status']}: {row.get('note', '')}"
    return (
        f"{row['method']}: {row['images']} images, {fmt(row['images_per_s'])}/s, policy "
        f"{row['policy']} accepts {100 * row['acceptance']:.1f}%, Fréchet {fmt(row['frechet'])} "
        f"(floor {fmt(row['frechet_floor'])})"
    )


def summary_of_train(row: dict) -> str:
    if row["status"] != "done":
        return f"{row['method']} seed {row['seed']}: {row['status']}: {row.get('note', '')}"
    return (
        f"{row['method']:22s} seed {row['seed']}: WGA {100 * row['wga']:5.1f}  avg "
        f"{100 * row['avg']:5.1f}  bal {100 * row['balanced']:5.1f}  {row['train_s']:.0f}s"
    )


def tables(log: RawLog, args, methods: list[str]) -> str:
    setting = setting_of(args)
    lines = [
        f"Setting `{setting}`; dataset seeds {args.dataset_seeds}; training seeds {args.seeds}.",
        "",
    ]
    dataset_seeds = [int(s) for s in split(args.dataset_seeds)]
    training_seeds = [int(s) for s in split(args.seeds)]
    n_seeds = len(training_seeds) * len(dataset_seeds)
    for bias in [float(b) for b in split(args.biases)]:
        for variant in split(args.variants):
            rows = [
                r
                for r in log.rows
                if r["setting"] == setting
                and r["variant"] == variant
                and r["bias"] == bias
                and r.get("dataset_seed", 0) in dataset_seeds
                and r.get("seed") in (None, *training_seeds)
            ]
            chosen = [r for r in rows if r["kind"] != "train" or r["method"] in methods]
            lines += table(rows, methods, variant, bias, n_seeds) + verdict_lines(chosen)
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------------
def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    methods = split(args.methods)
    say(
        f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, "
        f"device {args.device}; load {os.getloadavg()[0]:.1f}; setting {setting_of(args)}"
    )
    log = RawLog(args.raw)
    start = time.perf_counter()
    for bias in [float(b) for b in split(args.biases)]:
        for variant in split(args.variants):
            for dataset_seed in [int(s) for s in split(args.dataset_seeds)]:
                if not args.tables_only:
                    run_cell(args, log, variant, bias, methods, dataset_seed)
    log.reload()  # rows other processes wrote meanwhile
    text = tables(log, args, methods)
    say("\n" + text)
    say(f"total {time.perf_counter() - start:.0f} s; load {os.getloadavg()[0]:.1f}")
    if args.out:
        args.out.write_text(text + "\n")
    return {"rows": log.rows, "tables": text, "setting": setting_of(args)}


if __name__ == "__main__":
    main()
