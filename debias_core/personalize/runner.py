"""Personalization as a persisted job: units of concepts, resume, cancel, a live loss log.

A work unit is a batch of `config.batch` concepts trained together; its files and artifact rows
are saved with the unit's done mark, so a resumed job skips trained concepts. Cancel is checked
every `chunk_steps` steps. Per-chunk losses go to `artifacts/job-<id>/loss.jsonl`, which the app
reads for a live loss curve.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from debias_core.limits import JobLimits
from debias_core.models.backbone import backbone_folder
from debias_core.models.cache import cached_backbone
from debias_core.paper_defaults import with_family_defaults
from debias_core.params import check_limits, config_from
from debias_core.personalize.base import (
    PERSONALIZERS,
    Concept,
    PersonalizeConfig,
    build_params,
    check_target_kind,
)
from debias_core.store import Store

if TYPE_CHECKING:  # a job body takes the context; it never imports the executor
    from debias_core.jobs.base import JobContext

LOSS_LOG = "loss.jsonl"


@dataclass(frozen=True)
class Plan:
    """A checked job: config, method, its parameters and the concepts to learn."""

    config: PersonalizeConfig
    method: object
    params: object
    concepts: list[Concept]


@dataclass(frozen=True)
class Unit:
    key: str
    concepts: list[Concept]


def load_tokenizer(spec: str):
    """Only the backbone's tokenizer (cheap), for checking token names before a job is queued."""
    from transformers import CLIPTokenizer

    from debias_core.models.backbone import backbone_folder

    folder = backbone_folder(spec)
    return CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer", local_files_only=True)


def check_token_names(spec: str, concepts: list[Concept]) -> None:
    names = [t.name for c in concepts for t in c.tokens]
    if not names:
        return
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"token names repeat across concepts: {repeated[:10]}")
    from debias_core.models.tokens import taken_names

    taken = taken_names(load_tokenizer(spec), names)
    if taken:
        raise ValueError(
            f"token(s) {taken[:10]} are already in the vocabulary of backbone {spec!r}; "
            "choose another token format (--param token_format=...)"
        )


def check_personalize(store: Store, params: dict, limits: JobLimits | None = None) -> Plan:
    """Validate everything before a job is queued: config, sizes (within `limits`, before any
    planning), method, parameters, targets, tokens."""
    config = config_from(PersonalizeConfig, params, "personalization", drop=("dtype",))
    backbone_folder(config.backbone)  # an unknown name or a folder that is no model: refused now
    method = PERSONALIZERS.get(config.method)
    check_target_kind(config)
    # the paper's values are the defaults on Stable Diffusion (debias_core/paper_defaults.py)
    filled = with_family_defaults(method.params_class, config.params, config.backbone)
    config = replace(config, params=filled)
    method_params = build_params(method.params_class, config.params)
    if limits is not None:
        check_limits(config, limits)  # steps, batch, chunk_steps
        check_limits(method_params, limits)  # the method's own sizes
    concepts = method.plan(store, config, method_params)
    if not concepts:
        raise ValueError("the targets give nothing to personalize")
    check_token_names(config.backbone, concepts)
    return Plan(config, method, method_params, concepts)


def plan_units(concepts: list[Concept], batch: int) -> list[Unit]:
    """Consecutive batches of concepts; keys depend only on the concepts (stable on resume)."""
    units = []
    for start in range(0, len(concepts), batch):
        part = concepts[start : start + batch]
        key = part[0].key if len(part) == 1 else f"{part[0].key}..{part[-1].key}({len(part)})"
        units.append(Unit(key, part))
    return units


def total_steps(plan: Plan) -> int:
    return sum(p.steps for p in plan.method.phases(plan.config, plan.params))


class LossLog:
    """Append-only per-chunk losses of a job (one JSON object per line)."""

    def __init__(self, store: Store, job_id: int) -> None:
        self.path = store.artifacts_dir(job_id) / LOSS_LOG

    def append(self, record: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")


def read_loss_log(store: Store, job_id: int) -> list[dict]:
    """The job's per-chunk loss records (a half-written last line from a crash is skipped)."""
    path = store.artifacts_dir(job_id) / LOSS_LOG
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


@dataclass
class ChunkReporter:
    """Called every chunk of steps: log the losses, persist progress (which checks cancel)."""

    ctx: JobContext
    log: LossLog
    unit: Unit
    units_done: int
    units_total: int
    total_steps: int
    finished_phases: int = 0  # steps of the unit's phases already completed

    def __call__(self, step, phase, losses: list[float]) -> None:
        at = self.finished_phases + step
        if step == phase.steps:
            self.finished_phases += phase.steps
        keys = [c.key for c in self.unit.concepts]
        self.log.append(
            {
                "unit": self.unit.key,
                "phase": phase.name,
                "step": at,
                "losses": dict(zip(keys, losses, strict=True)),
            }
        )
        fraction = (self.units_done + at / self.total_steps) / self.units_total
        self.ctx.progress(
            fraction,
            f"unit {self.units_done + 1}/{self.units_total} ({len(keys)} concepts): "
            f"{phase.name} step {at}/{self.total_steps}, loss {sum(losses) / len(losses):.4f}",
        )


def canonical_personalize_params(store: Store, params: dict, limits: JobLimits) -> dict:
    """Validated params with every default filled in (equal work gives equal params)."""
    from dataclasses import asdict

    plan = check_personalize(store, params, limits)
    limits.check("groups", len(plan.config.groups), "target groups")
    # the method's defaults written out: a job made before a default changed is not equal work
    config = replace(plan.config, params=asdict(plan.params))
    return asdict(config) | {"dtype": params.get("dtype", "float32")}


@dataclass(frozen=True)
class BackboneRef:
    """Which backbone a unit trained on (what an artifact row records), without the model."""

    spec: str
    content_hash: str


@dataclass
class TrainedUnit:
    """One unit's learned tensors and its per-chunk loss records; `logged`: the records were
    already written to the loss log as they came (the unit ran in the driver's process)."""

    results: list
    chunks: list[dict]
    backbone: BackboneRef
    logged: bool


@dataclass(frozen=True)
class TrainUnits:
    """The training of one unit, apart from saving it (a jobs.UnitWork): picklable, so a Ray
    actor can train units (reading the source images from the project) while the driver
    alone writes files and rows."""

    config: PersonalizeConfig
    params: object
    dtype: str

    @property
    def backbone(self) -> tuple[str, str]:
        return self.config.backbone, self.dtype

    def __call__(self, store: Store, device: str, unit: Unit, live=None) -> TrainedUnit:
        from debias_core.personalize.engine import train_concepts

        method = PERSONALIZERS.get(self.config.method)
        backbone = cached_backbone(self.config.backbone, device, self.dtype)
        chunks: list[dict] = []

        def on_chunk(step, phase, losses) -> None:
            chunks.append(chunk_record(phase, step, list(losses)))
            if live is not None:
                live(step, phase, losses)

        data = [method.load_data(store, backbone, c, self.params) for c in unit.concepts]
        results = train_concepts(
            backbone, method, unit.concepts, data, self.config, self.params, on_chunk
        )
        ref = BackboneRef(backbone.spec, backbone.content_hash)
        return TrainedUnit([on_cpu(r) for r in results], chunks, ref, live is not None)


def chunk_record(phase, step: int, losses: list[float]) -> dict:
    """A loss record of one chunk; `step` counts within the phase (the log's own step is made
    by ChunkReporter, which knows the earlier phases)."""
    return {"phase": phase.name, "phase_steps": phase.steps, "step": step, "losses": losses}


def on_cpu(result):
    """A concept's learned tensors on the CPU (they travel back from a GPU worker)."""
    result.tokens = {k: v.detach().cpu() for k, v in result.tokens.items()}
    if result.lora is not None:
        result.lora = {k: v.detach().cpu() for k, v in result.lora.items()}
    return result


@dataclass(frozen=True)
class ChunkPhase:
    """The two fields of a phase that ChunkReporter reads, rebuilt from a loss record."""

    name: str
    steps: int


def replay_chunks(reporter: ChunkReporter, chunks: list[dict]) -> None:
    """Log and report a unit's chunks after it ran elsewhere (a Ray actor), in their order."""
    for chunk in chunks:
        reporter(chunk["step"], ChunkPhase(chunk["phase"], chunk["phase_steps"]), chunk["losses"])


def run_personalize_job(ctx: JobContext, params: dict) -> dict:
    """Job body: params are PersonalizeConfig fields (plus an optional `dtype`). The executor's
    unit runner trains the units (here, or on Ray actors); only this function writes them."""
    from debias_core.personalize.export import export_unit

    plan = check_personalize(ctx.store, params)
    units = plan_units(plan.concepts, plan.config.batch)
    ctx.set_units_total(len(units))
    todo = [u for u in units if not ctx.unit_done(u.key)]
    ctx.progress(
        1 - len(todo) / len(units),
        f"loading backbone {plan.config.backbone} ({ctx.units.label})",
    )
    log, steps = LossLog(ctx.store, ctx.job_id), total_steps(plan)
    work = TrainUnits(plan.config, plan.params, params.get("dtype", "float32"))

    def reporter(unit: Unit) -> ChunkReporter:
        done = ctx.store.units_done(ctx.job_id)
        return ChunkReporter(ctx, log, unit, done, len(units), steps)

    for unit, trained in ctx.map_units(work, todo, live=reporter):
        if not trained.logged:
            replay_chunks(reporter(unit), trained.chunks)
        artifacts = export_unit(
            ctx.store,
            ctx.job_id,
            unit.key,
            trained.results,
            plan.config,
            plan.config.method,
            trained.backbone,
        )
        ctx.store.add_artifacts(artifacts, ctx.job_id, unit.key)
    made = ctx.store.list_artifacts(job_id=ctx.job_id)
    return {
        "message": f"{len(made)} artifacts for {len(plan.concepts)} concepts",
        "artifacts": [a.id for a in made],
    }
