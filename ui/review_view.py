"""What the Review tab shows for one generated sample, and its queue; no widgets here.

Every image is a file path inside the project (thumbnails and overlays cached on disk), so the
browser fetches small PNGs and the server never pushes pixel arrays.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from debias_core.analysis.attribution import (
    attribute,
    cached_attribution,
    mask_overlay_path,
    source_attribution,
    source_attribution_path,
    thumbnail_path,
)
from debias_core.analysis.review import (
    READINGS,
    VERDICTS,
    Evidence,
    ReviewFilter,
    evidence_text,
    review_ids,
    sample_evidence,
)
from debias_core.analysis.review import (
    STATUSES as CORE_STATUSES,
)
from debias_core.store import Sample, SampleFilter
from ui.common import ANY, as_float, group_label, parse_group, parse_optional_int
from ui.state import AppContext

DISPLAY = 192  # px a side for the side-by-side images
STATUSES = [*CORE_STATUSES, ANY]
VERDICT_CHOICES = [ANY, *VERDICTS]
READING_CHOICES = [ANY, *READINGS]


@dataclass
class Queue:
    """One browser's review queue: a snapshot of ids (stable while deciding) and a position."""

    ids: list[int] = field(default_factory=list)
    pos: int = 0
    last: int | None = None  # the sample this browser decided last (what Undo reverts)

    def current(self) -> int | None:
        return self.ids[self.pos] if self.ids else None

    def step(self, delta: int) -> int | None:
        if self.ids:
            self.pos = min(max(self.pos + delta, 0), len(self.ids) - 1)
        return self.current()

    def go_to(self, sample_id: int) -> None:
        if sample_id in self.ids:
            self.pos = self.ids.index(sample_id)


def queue_filter(
    method,
    group,
    job,
    status,
    tag=ANY,
    verdict=ANY,
    scorer="",
    low="",
    high="",
    sort="id",
    reading=ANY,
) -> ReviewFilter:
    """The Review filters as core filters over generated samples ('any' = no constraint).

    A missing filter is an error, not "any": a client leaving one out must not widen a bulk
    decision to every sample.
    """
    for name, value in (("method", method), ("group", group), ("job", job), ("tag", tag)):
        if not isinstance(value, str):
            raise ValueError(f"choose a {name} filter ('any' for all), got {value!r}")
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    if verdict not in VERDICT_CHOICES:
        raise ValueError(f"verdict must be one of {VERDICT_CHOICES}, got {verdict!r}")
    if reading not in READING_CHOICES:
        raise ValueError(f"judge reading must be one of {READING_CHOICES}, got {reading!r}")
    if not isinstance(scorer, str) or not isinstance(sort, str):
        raise ValueError("choose a scorer ('' for none) and a sort order")
    y, a = parse_group(group) or (None, None)
    where = ReviewFilter(
        method=None if method in ("", ANY) else method,
        y=y,
        a=a,
        job_id=parse_optional_int(job, "job"),
        status=None if status == ANY else status,
        tag=None if tag in ("", ANY) else tag,
        verdict=None if verdict == ANY else verdict,
        scorer=scorer or None,
        score_min=bound(low, "score min"),
        score_max=bound(high, "score max"),
        sort=sort or "id",
        reading=None if reading == ANY else reading,
    )
    where.check_inputs()
    return where


def filter_widgets(where: ReviewFilter) -> tuple:
    """A filter back as widget values, in `queue_filter`'s argument order (for saved views)."""
    group = ANY if where.y is None else f"{where.y},{where.a}"
    return (
        where.method or ANY,
        group,
        ANY if where.job_id is None else str(where.job_id),
        where.status or ANY,
        where.tag or ANY,
        where.verdict or ANY,
        where.scorer or "",
        "" if where.score_min is None else repr(where.score_min),
        "" if where.score_max is None else repr(where.score_max),
        where.sort,
        where.reading or ANY,
    )


def bound(value, what: str) -> float | None:
    """A score bound typed as text ('' = none) or sent as a number by a client."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"{what} must be a number, got {value!r}") from None
    return as_float(value, what)


def text(value, what: str, limit: int = 500) -> str:
    """A free-text field from a widget or a client: a string (None: empty) of bounded length."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, got {value!r}")
    if len(value) > limit:
        raise ValueError(f"{what} is at most {limit} characters, got {len(value)}")
    return value.strip()


def build_queue(ctx: AppContext, *filters) -> Queue:
    return Queue(review_ids(ctx.store, queue_filter(*filters)))


def generated_sample(ctx: AppContext, sample_id) -> Sample:
    """The sample to review; unknown ids and real samples are refused with a clear message."""
    sid = parse_optional_int(sample_id, "sample id")
    if sid is None:
        raise ValueError("no sample selected (the queue is empty?)")
    sample = ctx.store.get_sample(sid)  # KeyError: "no sample with id ..."
    if sample.source != "generated":
        raise ValueError(f"sample {sid} is a real image; only generated samples are reviewed")
    return sample


def reference(ctx: AppContext, sample: Sample) -> tuple[str | None, str]:
    """The image to compare with: the parent it was edited from, else a real exemplar."""
    if sample.parent_id is not None:
        parent = ctx.store.get_sample(sample.parent_id)
        return str(thumbnail_path(ctx.store, parent, DISPLAY)), f"Source image #{parent.id}"
    key = (sample.y, sample.a)
    if key not in ctx.exemplars:
        real = ctx.store.list_samples(
            SampleFilter(source="real", split="train", y=sample.y, a=sample.a), limit=1
        ) or ctx.store.list_samples(SampleFilter(source="real", split="train", y=sample.y), limit=1)
        ctx.exemplars[key] = real[0].id if real else None
    if ctx.exemplars[key] is None:
        return None, "No real image of this class"
    real = ctx.store.get_sample(ctx.exemplars[key])
    same = (real.y, real.a) == key
    return str(thumbnail_path(ctx.store, real, DISPLAY)), (
        f"Real exemplar #{real.id}" + ("" if same else " (same class, other context)")
    )


def attribution_view(ctx: AppContext, sample_id: int, run, compute: bool) -> tuple:
    """(overlay path or None, caption): the cached map for the chosen run, computed on demand."""
    run_id = parse_optional_int(run, "run")
    if run_id is None and compute:
        raise ValueError("Choose a finished training run (IG run) first.")
    if run_id is None:
        return None, "Choose a finished training run to see Integrated Gradients."
    sample = ctx.store.get_sample(sample_id)
    if sample.parent_id is not None:  # an edit: attribute the change from its source (DBB)
        return source_attribution_view(ctx, sample, run_id, compute)
    if compute:
        result = attribute(ctx.store, sample_id, run_id, ctx.device)
    else:
        result = cached_attribution(ctx.store, sample_id, run_id)
    if result is None:
        return None, f"Run #{run_id}: press Attribution (or key i) to compute."
    inside = "" if result.mask_fraction is None else f" · {result.mask_fraction:.0%} inside mask"
    return str(ctx.store.resolve(result.overlay_path, f"attribution of sample {sample_id}")), (
        f"IG run #{run_id}: p(class)={result.probability:.2f}{inside}"
    )


def source_attribution_view(ctx: AppContext, sample: Sample, run_id: int, compute: bool):
    """(map path or None, caption) of IG from the source image to this one, for one run."""
    if compute:
        path = source_attribution(ctx.store, sample.id, run_id, ctx.device, display=DISPLAY)
    else:
        path = source_attribution_path(ctx.store, sample, run_id, DISPLAY)
        if not path.exists():
            return None, f"Run #{run_id}: press Attribution (or key i) to compute."
    rho = ctx.store.scores_for(sample.id).get("ig-in-mask")
    inside = "" if rho is None or rho["value"] is None else f" · in mask {rho['value']:.3f}"
    return str(path), f"IG from source #{sample.parent_id}, run #{run_id}{inside}"


def score_rows(ctx: AppContext, sample_id: int) -> list[list]:
    rows = []
    for scorer, s in ctx.store.scores_for(sample_id).items():
        rows.append([scorer, score_cell(s), s["run_id"] if s["run_id"] is not None else ""])
    return rows


def score_cell(score: dict) -> float | str:
    """A score's value; an IG map's score is its share inside the mask, so without a mask it
    shows the class probability the map explains instead of a bare '-'."""
    value = score["value"]
    if value is not None and not math.isnan(value):
        return round(float(value), 4)
    probability = (score.get("details") or {}).get("probability")
    if probability is not None:
        return f"p(class) {probability:.3f} · no mask"
    return "-"


def recipe_info(ctx: AppContext, sample: Sample) -> dict:
    info = {"sample": {k: getattr(sample, k) for k in ("id", "y", "a", "job_id", "parent_id")}}
    if sample.recipe_id is not None:
        recipe = asdict(ctx.store.get_recipe(sample.recipe_id))
        info["recipe"] = {k: v for k, v in recipe.items() if v not in ((), {}, "", None)}
    return info


def header(ctx: AppContext, sample: Sample, queue: Queue) -> str:
    status = ctx.store.status_of(sample.id)
    history = ctx.store.decisions_for(sample.id)[-3:]
    said = "; ".join(f"{d['decision']} by {d['reviewer']}" for d in history) or "no decision yet"
    where = f"{queue.pos + 1} / {len(queue.ids)}" if sample.id in queue.ids else "not in queue"
    if sample.id in queue.ids and queue.pos == len(queue.ids) - 1:
        where += " (end of queue)"
    group = group_label(ctx.store, sample.y, sample.a, ctx.aligned_attrs())
    return (
        f"### Sample #{sample.id} · **{status}**\n"
        f"Target group: {group} · queue position {where} · history: {said}"
    )


def counts_text(ctx: AppContext) -> str:
    c = ctx.store.curation_counts()
    return (
        f"Generated in project: **{c['accepted']}** accepted · **{c['rejected']}** rejected · "
        f"**{c['pending']}** pending"
    )


@dataclass
class Panel:
    """One image panel: a file path (None: nothing to show, so the panel collapses) and a label."""

    path: str | None = None
    label: str = ""


@dataclass
class SampleView:
    """What the one-at-a-time view shows; panels missing from `panels` collapse."""

    sample_id: int | None
    header: str
    panels: dict[str, Panel] = field(default_factory=dict)  # by IMAGE_PANELS name
    evidence: str = ""
    scores: list[list] = field(default_factory=list)
    recipe: dict = field(default_factory=dict)
    counts: str = ""


def image_panels(ctx: AppContext, sample: Sample, ev: Evidence, run) -> dict[str, Panel]:
    """The method's image panels that have something to show for this sample."""
    found: dict[str, Panel] = {}
    for name in ev.panels:
        panel = _panel(ctx, sample, ev, name, run)
        if panel.path is not None:
            found[name] = panel
    return found


def _panel(ctx: AppContext, sample: Sample, ev: Evidence, name: str, run) -> Panel:
    if name == "generated":
        return Panel(str(thumbnail_path(ctx.store, sample, DISPLAY)), f"Generated #{sample.id}")
    if name == "source":
        return Panel(*reference(ctx, sample))
    if name == "content" and ev.content_id is not None:
        content = ctx.store.get_sample(ev.content_id)
        path = thumbnail_path(ctx.store, content, DISPLAY)
        return Panel(str(path), f"Content (bias-conflicting) #{content.id}")
    if name == "mask" and ev.mask is not None:
        owner = (
            sample if ev.mask.of_sample == sample.id else ctx.store.get_sample(ev.mask.of_sample)
        )
        path = mask_overlay_path(ctx.store, owner, DISPLAY)
        whose = "" if owner.id == sample.id else f" on source #{owner.id}"
        return Panel(str(path) if path else None, f"Mask ({ev.mask.segmenter}){whose}")
    if name == "ig":
        return Panel(*attribution_view(ctx, sample.id, run, compute=False))
    return Panel()


def sample_outputs(ctx: AppContext, sample: Sample, queue: Queue, run) -> SampleView:
    ev = sample_evidence(ctx.store, sample)
    panels = image_panels(ctx, sample, ev, run)
    return SampleView(
        sample.id,
        header(ctx, sample, queue),
        panels,
        evidence_markdown(ev, ig_shown="ig" in panels),
        score_rows(ctx, sample.id),
        recipe_info(ctx, sample),
        counts_text(ctx),
    )


def evidence_markdown(ev, ig_shown: bool) -> str:
    """The evidence, with the IG hint only while no map is shown."""
    hint = "" if ig_shown else "\n\nIntegrated Gradients: choose an IG run, then press i."
    return evidence_text(ev) + hint


def evidence_after_attribution(ctx: AppContext, sample_id: int) -> str:
    """The evidence once the IG map is shown (it may carry a new score)."""
    return evidence_markdown(sample_evidence(ctx.store, ctx.store.get_sample(sample_id)), True)


def empty_outputs(ctx: AppContext, message: str) -> SampleView:
    return SampleView(None, f"### {message}", counts=counts_text(ctx))
