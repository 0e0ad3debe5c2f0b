"""The demo comparison: a baseline on real data next to a generated-data pipeline, as one job.

One `compare` job generates a group-balanced set (a `generate` job), then trains, seed by seed,
the baseline on real data and the pipeline on real + that set (`train` jobs), and records their
run ids; `comparison_of` reads them back as a `ComparisonSummary` (worst groups with intervals,
the lift). Every step is its own persisted job run in this thread, as a generation runs its
prerequisites: a finished equivalent generation or training run is reused, an interrupted one
resumes, and a cancel of the comparison cancels the step in flight.

`DEMO` is the preset the Train & Evaluate tab offers: sized to show ERM's worst group next to
txt2img + FFR's (head-only second stage, which cannot re-learn the colour) within 10 CPU minutes
on a 2-core CPU (measured in bench/RESULTS.md, issue 16).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from debias_core.jobs.base import JobContext
from debias_core.jobs.submit import canonical_params
from debias_core.limits import MAX_EPOCHS, MAX_SEED, JobLimits
from debias_core.models import DEFAULT_ARCH
from debias_core.params import bounded, check_values
from debias_core.store import Store

MAX_SEEDS = 5  # training seeds in one comparison: each adds two training runs


@dataclass(frozen=True)
class ComparisonConfig:
    """A baseline and a generated-data pipeline, trained on the same seeds."""

    generator: str = "txt2img"
    per_group: int = bounded(16, limit="per_group", help="generated images per group")
    batch_size: int = bounded(16, limit="batch_size", help="images rendered together")
    steps: int | None = bounded(None, limit="steps", help="denoising steps (None: the method's)")
    guidance: float = bounded(4.0, 0.0, 100.0)
    generation_seed: int = 0
    baseline: str = "erm"  # trained on real data only
    method: str = "ffr"  # trained on real + the generated set
    method_params: dict[str, Any] = field(default_factory=lambda: {"stage2": "llr"})
    arch: str = DEFAULT_ARCH
    epochs: int = bounded(6, 1, MAX_EPOCHS, help="training epochs (per stage)")
    seeds: tuple[int, ...] = (0,)
    augment: str = "none"  # both sides' training images (TrainConfig.augment)

    def __post_init__(self) -> None:
        object.__setattr__(self, "seeds", tuple(self.seeds))
        check_values(self)
        if not self.seeds or len(self.seeds) > MAX_SEEDS:
            raise ValueError(f"seeds: 1 to {MAX_SEEDS} training seeds, got {list(self.seeds)}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must differ, got {list(self.seeds)}")
        for s in self.seeds:
            if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED:
                raise ValueError(f"a seed is an integer in 0..{MAX_SEED}, got {s!r}")

    def generate_params(self) -> dict:
        return {
            "method": self.generator,
            "per_group": self.per_group,
            "batch_size": self.batch_size,
            "steps": self.steps,
            "guidance": self.guidance,
            "seed": self.generation_seed,
        }

    def baseline_params(self, seed: int) -> dict:
        return {"method": self.baseline, "seed": seed} | self.shared_training()

    def shared_training(self) -> dict:
        return {"arch": self.arch, "epochs": self.epochs, "augment": self.augment}

    def method_params_for(self, seed: int, generate_job: int) -> dict:
        """The pipeline's run: real + every image of this comparison's generation job."""
        return {
            "method": self.method,
            "seed": seed,
            "synthetic": "all",
            "synthetic_job": generate_job,
            "params": dict(self.method_params),
        } | self.shared_training()

    def labels(self) -> tuple[str, str]:
        stage2 = self.method_params.get("stage2")
        method = f"{self.method} ({stage2} second)" if stage2 else self.method
        augmented = "" if self.augment == "none" else f", {self.augment} augmentation"
        return (
            f"{self.baseline.upper()}, real only{augmented}",
            f"{self.generator} x {self.per_group}/group + {method}{augmented}",
        )


# The Train & Evaluate tab's one-click preset. Both sides augment their images (affine): with it
# txt2img + FFR's worst group rose from 59.3 ± 8.1 to 65.4 ± 8.4 on plain Colored Digits and from
# 44.0 ± 11.3 to 56.3 ± 5.5 on slanted ones (mean ± 95% interval over 9 runs; bench/RESULTS.md,
# issue 16, session 4).
DEMO = ComparisonConfig(augment="affine")


def comparison_config(params: dict) -> ComparisonConfig:
    known = set(ComparisonConfig.__dataclass_fields__)
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"unknown comparison field(s) {unknown}; valid: {', '.join(known)}")
    return ComparisonConfig(**params)


def check_comparison(store: Store, params: dict, limits: JobLimits | None = None) -> dict:
    """Canonical params, once the generation and every training step would be accepted: a bad
    size or name is refused before any job row is written (the pipeline's images do not exist
    yet, so its run is checked for its fields and names only)."""
    from debias_core.jobs.kinds import check_generate, train_config
    from debias_core.models.classifiers import CLASSIFIERS
    from debias_core.params import config_from
    from debias_core.train import TRAIN_METHODS, TrainConfig

    config = comparison_config(params)
    check_generate(store, config.generate_params(), limits or JobLimits.from_env())
    train_config(store, config.baseline_params(config.seeds[0]))
    pipeline = config_from(TrainConfig, config.method_params_for(0, 1), "training")
    TRAIN_METHODS.get(pipeline.method)
    CLASSIFIERS.get(pipeline.arch)
    return asdict(config) | {"seeds": list(config.seeds)}


def run_comparison_job(ctx: JobContext, params: dict) -> dict:
    """Generate, then train baseline and pipeline per seed; the run ids and a summary line."""
    from debias_core.jobs.prerequisites import run_needed_job

    config = comparison_config(params)
    ctx.progress(0.0, f"generating {config.generator} x {config.per_group} per group")
    generate_job = run_needed_job(ctx, "generate", config.generate_params())
    baseline_runs, method_runs = [], []
    n_steps, step = 1 + 2 * len(config.seeds), 1
    for seed in config.seeds:
        for runs, train in (
            (baseline_runs, config.baseline_params(seed)),
            (method_runs, config.method_params_for(seed, generate_job)),
        ):
            ctx.progress(step / n_steps, f"training {train['method']}, seed {seed}")
            runs.append(training_run(ctx, train))
            step += 1
    summary = comparison_of(ctx.store, baseline_runs, method_runs, config)
    return {
        "generate_job": generate_job,
        "baseline_runs": baseline_runs,
        "method_runs": method_runs,
        "message": f"{summary.baseline.label}: worst group {summary.baseline.worst_text()}; "
        f"{summary.method.label}: {summary.method.worst_text()}; "
        f"lift {100 * summary.lift.estimate.value:+.1f} points",
    }


def training_run(ctx: JobContext, params: dict) -> int:
    """The run id of a `train` job with these params: a finished equivalent one, else a new one
    (its data is fixed: real only, or one finished generation job's images)."""
    from debias_core.jobs.prerequisites import run_needed_job

    canonical = canonical_params(ctx.store, "train", params, JobLimits.from_env())
    finished = ctx.store.equivalent_job("train", canonical, ["done"])
    job_id = finished.id if finished is not None else run_needed_job(ctx, "train", canonical)
    return int(ctx.store.get_job(job_id).result["run_id"])


def comparison_of(store: Store, baseline_runs, method_runs, config: ComparisonConfig):
    """The `ComparisonSummary` of finished runs (one per seed on each side)."""
    from debias_core.evaluate.comparison import compare_sides
    from debias_core.evaluate.report import EvalReport

    def reports(run_ids):
        return [(i, EvalReport.from_dict(store.get_run(i).metrics["test"])) for i in run_ids]

    baseline_label, method_label = config.labels()
    return compare_sides(baseline_label, reports(baseline_runs), method_label, reports(method_runs))


def comparison_of_job(store: Store, job_id: int):
    """(config, summary) of a finished `compare` job."""
    job = store.get_job(job_id)
    if job.kind != "compare":
        raise ValueError(f"job {job_id} is a {job.kind} job, not a comparison")
    if job.status != "done":
        raise ValueError(f"comparison job {job_id} is {job.status}")
    config = comparison_config(job.params)
    result = job.result
    return config, comparison_of(store, result["baseline_runs"], result["method_runs"], config)
