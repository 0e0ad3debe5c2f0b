"""The fairness report's view model: plain dataclasses the HTML renderer (and tests) read.

Everything a reader sees is computed once, here, from the store; the renderer only formats.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from debias_core.analysis.distance_report import DistanceReport
from debias_core.bias.stats import GroupStat
from debias_core.evaluate.report import EvalReport
from debias_core.evaluate.uncertainty import Estimate, ReportIntervals
from debias_core.verify.agreement import Agreement

MAX_THUMB = 128  # pixels: a thumbnail, never the full image, keeps 50,000-sample reports small


@dataclass(frozen=True)
class ReportOptions:
    """What to put in a report. `runs` None: the ERM baseline and the best run by validation
    worst-group accuracy; `methods` None: every generation method in the project."""

    runs: tuple[int, ...] | None = None
    methods: tuple[str, ...] | None = None
    examples_per_group: int = 3
    samples_per_status: int = 6
    thumb_size: int = 64
    max_groups_shown: int = 100  # example images for at most this many groups (rarest first)

    def check_inputs(self) -> None:
        if self.runs is not None and not self.runs:
            raise ValueError("runs: name at least one run, or leave it out for the default")
        if self.methods is not None and not self.methods:
            raise ValueError("methods: name at least one method, or leave it out for all")
        for name in ("examples_per_group", "samples_per_status", "max_groups_shown"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1000:
                raise ValueError(f"{name} must be an integer in 0..1000, got {value!r}")
        if not 16 <= self.thumb_size <= MAX_THUMB:
            raise ValueError(f"thumb_size must lie in 16..{MAX_THUMB}, got {self.thumb_size}")


@dataclass(frozen=True)
class Thumb:
    """A small inline image: a data: URI, its sample id and the group it shows."""

    sample_id: int
    uri: str
    group: str
    split: str = ""  # for real examples: the split it comes from


@dataclass(frozen=True)
class ProjectInfo:
    root: str
    name: str
    dataset: str
    dataset_params: dict
    class_names: list[str]
    attr_names: list[str]
    created_at: str
    software_version: str
    schema: str
    generated_at: str


@dataclass(frozen=True)
class DatasetSection:
    groups: list[GroupStat]
    biased: list[GroupStat]  # the bias-conflicting (rare) groups of the train split, rarest first
    train_total: int
    aligned_fraction: float
    examples: dict[str, list[Thumb]]  # group label -> real train thumbnails
    examples_note: str = ""


@dataclass(frozen=True)
class GenerationRow:
    """Counts of one method (job None: all its jobs) or one generation job."""

    method: str
    job_id: int | None
    total: int
    accepted: int
    rejected: int
    pending: int
    person_accepted: int
    person_rejected: int
    policy_accepted: int
    policy_rejected: int
    policy_review: int
    job_params: dict = field(default_factory=dict)

    @property
    def decided_by_people(self) -> int:
        return self.person_accepted + self.person_rejected

    @property
    def decided_by_policy(self) -> int:
        return self.policy_accepted + self.policy_rejected + self.policy_review


@dataclass(frozen=True)
class ImageCard:
    """One shown generated image with its curation evidence and its full recipe."""

    thumb: Thumb
    status: str
    person: str | None
    reviewer: str | None
    reason: str
    policy: str | None
    policy_reason: str
    job_id: int | None
    parent_id: int | None
    recipe: dict
    artifacts: list[dict]
    regenerate: str


@dataclass(frozen=True)
class MethodGrid:
    method: str
    accepted: list[ImageCard]
    rejected: list[ImageCard]
    reasons: list[dict]  # {decision, reason, n}: what people typed, most frequent first


@dataclass(frozen=True)
class GeneratedSection:
    methods: list[GenerationRow]
    jobs: list[GenerationRow]
    agreements: list[Agreement]
    distance: DistanceReport | None
    distance_note: str
    grids: list[MethodGrid]
    backbones: list[dict]


@dataclass(frozen=True)
class RunView:
    """One chosen run: its test report with intervals and where every number came from."""

    run_id: int
    method: str
    data: str
    seed: int | None
    config: dict
    job_id: int | None
    run_dir: str
    created_at: str
    finished_at: str | None
    n_synthetic: int
    best_val_wga: float | None
    report: EvalReport
    intervals: ReportIntervals
    balanced: Estimate

    @property
    def label(self) -> str:
        return f"run {self.run_id} · {self.method} · {self.data}"


@dataclass(frozen=True)
class LiftView:
    """A run's worst-group gain over the baseline: paired by seed, or per run with overlap."""

    run_id: int
    baseline_id: int
    kind: str  # 'paired' (several seeds) | 'per-run' (one seed each)
    value: float
    low: float | None
    high: float | None
    significant: bool
    overlap: bool | None  # per-run: do the two runs' WGA intervals overlap
    seeds: list[int]
    text: str


@dataclass(frozen=True)
class ResultsSection:
    runs: list[RunView]
    baseline_id: int | None
    lifts: list[LiftView]
    choice_note: str
    figure_groups: object | None = None  # plotly Figure
    figure_summary: object | None = None


@dataclass(frozen=True)
class CardItem:
    title: str
    lines: list[str]


@dataclass(frozen=True)
class FairnessReport:
    project: ProjectInfo
    options: ReportOptions
    dataset: DatasetSection
    generated: GeneratedSection
    results: ResultsSection
    card: list[CardItem]
    seconds: float = 0.0
