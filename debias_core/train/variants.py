"""What data a training run learned from, as one label for tables and legends.

Two runs of the same method differ most by their data: real only, real plus accepted generated
images (and from which generators), or FFR's two stages (generated first, then real). The label
is read from the run's config and the generated samples it recorded using.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from debias_core.store import SampleFilter, Store
from debias_core.store.records import Run

TWO_STAGE = {"ffr": None, "ffr-llr": "llr"}  # method -> its fixed second stage (None: a param)
SYNTHETIC_WORDS = {"accepted": "accepted", "all": "all"}
CHUNK = 900  # ids per query (SQLite's bound-parameter limit is 999 on old builds)


@dataclass(frozen=True)
class DataVariant:
    """The data of one run: which generated samples (and from which methods) and the stages."""

    synthetic: str  # none | accepted | all
    methods: dict[str, int] = field(default_factory=dict)  # generation method -> images used
    stage2: str | None = None  # the real-data stage of a two-stage run

    @property
    def used(self) -> int:
        return sum(self.methods.values())

    def generated_text(self) -> str:
        """'40 accepted generated (diffinject 30, txt2img 10)'."""
        which = SYNTHETIC_WORDS.get(self.synthetic, self.synthetic)
        if not self.methods:
            return f"{which} generated"
        sources = ", ".join(f"{m} {n}" for m, n in sorted(self.methods.items()))
        return f"{self.used} {which} generated ({sources})"

    def label(self) -> str:
        if self.stage2 is not None:
            return f"two-stage: {self.generated_text()}, then real ({self.stage2})"
        if self.synthetic == "none":
            return "real only"
        return f"real + {self.generated_text()}"


def methods_of(store: Store, sample_ids: list[int]) -> dict[str, int]:
    """Generation method -> how many of `sample_ids` it made (methods with none left out)."""
    out: dict[str, int] = {}
    for method in store.recipe_methods():
        n = sum(
            store.count_samples(SampleFilter(method=method, ids=sample_ids[i : i + CHUNK]))
            for i in range(0, len(sample_ids), CHUNK)
        )
        if n:
            out[method] = n
    return out


def data_variant(store: Store, run: Run) -> DataVariant:
    """The data variant of a training run, from its config and recorded generated samples."""
    config = run.config
    synthetic = str(config.get("synthetic", "none"))
    stage2 = None
    if run.method in TWO_STAGE:
        stage2 = TWO_STAGE[run.method] or str(config.get("params", {}).get("stage2", "erm"))
    methods = methods_of(store, [int(i) for i in run.synthetic_ids]) if run.synthetic_ids else {}
    return DataVariant(synthetic, methods, stage2)


@dataclass(frozen=True)
class GeneratedSource:
    """Which generated samples a run may learn from: every method's, one method's or one
    generation job's (TrainConfig.synthetic_method / synthetic_job)."""

    label: str
    method: str | None = None
    job: int | None = None

    @property
    def key(self) -> str:
        """'any', 'method:NAME' or 'job:ID' (a widget value)."""
        if self.job is not None:
            return f"job:{self.job}"
        return "any" if self.method is None else f"method:{self.method}"

    def config_fields(self) -> dict:
        return {"synthetic_method": self.method, "synthetic_job": self.job}


ANY_SOURCE = GeneratedSource("every generation method")


def generated_sources(store: Store, max_jobs: int = 200) -> list[GeneratedSource]:
    """Every method, then every generation job that made images (newest first)."""
    sources = [ANY_SOURCE] + [GeneratedSource(m, method=m) for m in store.recipe_methods()]
    for job in store.list_jobs(limit=max_jobs):
        n = store.count_samples(SampleFilter(job_id=job.id)) if job.kind == "generate" else 0
        if n:
            method = job.params.get("method", "?")
            sources.append(GeneratedSource(f"job {job.id}: {method}, {n} images", job=job.id))
    return sources


def source_from_key(key: str) -> GeneratedSource:
    """The source a widget value names; ValueError for anything else."""
    kind, _, value = str(key).partition(":")
    if kind == "any" and not value:
        return ANY_SOURCE
    if kind == "method" and value:
        return GeneratedSource(value, method=value)
    if kind == "job" and value.isdigit():
        return GeneratedSource(f"job {value}", job=int(value))
    raise ValueError(f"generated images from must be any, method:NAME or job:ID, got {key!r}")
