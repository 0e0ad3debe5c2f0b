"""What the Review screen reads: the filtered queue as a saved view, grid pages, and each
generated sample's evidence laid out by the method that made it.

Pure reads over the store; no widgets (the app's Review tab calls these).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from debias_core.store import Sample, SampleFilter, Store
from debias_core.store.views import SavedView

STATUSES = ("pending", "needs-review", "accepted", "rejected")
VERDICTS = ("accept", "reject", "needs-review", "none")  # 'none': no policy decided
# What a judge reads against the recorded group: 'disputed' = some judge's newest reading is
# another group (`verify` records them), 'agrees' = no judge disagrees (or none read it).
READINGS = ("disputed", "agrees")
GRID_PAGE = 48  # tiles a grid page: bounded, so a page is one small sprite and one reply
MAX_GRID_PAGE = 96


@dataclass(frozen=True)
class ReviewFilter:
    """The Review filters over generated samples; None means any."""

    method: str | None = None
    y: int | None = None
    a: int | None = None
    job_id: int | None = None
    status: str | None = "pending"
    tag: str | None = None
    verdict: str | None = None
    scorer: str | None = None
    score_min: float | None = None
    score_max: float | None = None
    sort: str = "id"
    reading: str | None = None  # READINGS

    def check_inputs(self) -> None:
        if self.reading is not None and self.reading not in READINGS:
            raise ValueError(f"reading must be one of {READINGS} or any, got {self.reading!r}")
        if self.status is not None and self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES} or any, got {self.status!r}")
        if self.verdict is not None and self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS} or any, got {self.verdict!r}")
        if self.scorer is None and (self.score_min is not None or self.score_max is not None):
            raise ValueError("a score range needs a scorer: choose one first")
        low, high = self.score_min, self.score_max
        if low is not None and high is not None and low > high:
            raise ValueError(f"score min ({low}) is above score max ({high})")
        self.view().check_inputs()

    def view(self) -> SavedView:
        where = SampleFilter(
            source="generated",
            method=self.method,
            y=self.y,
            a=self.a,
            job_id=self.job_id,
            status=self.status,
            tag=self.tag,
            verdict=self.verdict,
            scorer=self.scorer,
            score_min=self.score_min,
            score_max=self.score_max,
            disputed=None if self.reading is None else self.reading == "disputed",
        )
        return SavedView(where, self.sort)

    @classmethod
    def from_view(cls, view: SavedView) -> ReviewFilter:
        """A saved view back as Review filters (fields Review has no widget for are refused)."""
        f = view.filter
        fixed = f.split is not None or f.ids is not None or f.set_aside is not None
        if f.source not in (None, "generated") or fixed:
            raise ValueError("this saved view selects real samples or fixed ids; Review shows "
                             "generated samples by filter only")  # fmt: skip
        reading = None if f.disputed is None else READINGS[0 if f.disputed else 1]
        return cls(
            f.method, f.y, f.a, f.job_id, f.status, f.tag, f.verdict, f.scorer,
            f.score_min, f.score_max, view.sort, reading,
        )  # fmt: skip


def review_ids(store: Store, where: ReviewFilter) -> list[int]:
    """The queue: every id the filter selects, in its sort order."""
    where.check_inputs()
    return store.view_ids(where.view())


def review_listing(store: Store, where: ReviewFilter, limit: int) -> list[dict]:
    """The first `limit` samples of the queue: id, method, status, recorded and read groups."""
    ids = review_ids(store, where)[:limit]
    samples = {s.id: s for s in store.list_samples(SampleFilter(ids=ids))} if ids else {}
    statuses = store.statuses_of(ids)
    rows = []
    for i in ids:
        sample = samples[i]
        recipe = store.get_recipe(sample.recipe_id) if sample.recipe_id is not None else None
        rows.append(
            {
                "id": i,
                "method": recipe.method if recipe is not None else "unknown",
                "status": statuses[i],
                "recorded_group": group_words(store, sample.y, sample.a),
                "read_groups": list(read_group_rows(store, i)),
            }
        )
    return rows


def save_review_view(store: Store, name: str, where: ReviewFilter) -> None:
    where.check_inputs()
    store.save_view(name, where.view())


def load_review_view(store: Store, name: str) -> ReviewFilter:
    return ReviewFilter.from_view(store.get_view(name))


# -- grid pages --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tile:
    id: int
    status: str
    tags: tuple[str, ...]
    y: int
    a: int


@dataclass(frozen=True)
class GridPage:
    tiles: tuple[Tile, ...]
    page: int  # 1-based, clamped to the pages there are
    pages: int
    total: int  # samples the filter selects


def grid_page(store: Store, ids: list[int], page: int, size: int = GRID_PAGE) -> GridPage:
    """One page of the queue `ids` as tiles with their status and tags."""
    if not 1 <= size <= MAX_GRID_PAGE:
        raise ValueError(f"a grid page holds 1-{MAX_GRID_PAGE} samples, got {size}")
    pages = max(1, math.ceil(len(ids) / size))
    page = min(max(int(page), 1), pages)
    shown = ids[(page - 1) * size : page * size]
    samples = {s.id: s for s in store.list_samples(SampleFilter(ids=shown))} if shown else {}
    status, tags = store.statuses_of(shown), store.tags_for(shown)
    tiles = tuple(
        Tile(i, status[i], tuple(tags.get(i, ())), samples[i].y, samples[i].a)
        for i in shown
        if i in samples
    )
    return GridPage(tiles, page, pages, len(ids))


# -- evidence ----------------------------------------------------------------------------------
# Which image panels each method's samples have, in the order a person compares them. A panel
# with nothing to show for a given sample is dropped, whatever the method says.
IMAGE_PANELS = ("source", "content", "mask", "generated", "ig")
METHOD_PANELS = {
    "txt2img": ("source", "generated", "mask", "ig"),
    "ffr": ("source", "generated", "mask", "ig"),
    "contrastive": ("source", "generated", "mask", "ig"),
    "diffinject": ("source", "content", "generated", "ig"),
    "dbb": ("source", "mask", "generated", "ig"),
    "decouplegen": ("source", "mask", "generated", "ig"),
    "clustered-dreambooth": ("source", "generated", "ig"),
}
DEFAULT_PANELS = ("source", "content", "mask", "generated", "ig")


@dataclass(frozen=True)
class MaskInfo:
    id: int
    of_sample: int  # the sample the mask was drawn on (the generated one or its source)
    segmenter: str
    prompt: str
    model_hash: str | None


@dataclass(frozen=True)
class Evidence:
    """Everything Review shows about one generated sample, beyond its pixels."""

    sample_id: int
    method: str
    panels: tuple[str, ...]  # image panels this method lays out, in order
    source_id: int | None  # the image it was edited from (parent_id)
    content_id: int | None  # DiffInject: the bias-conflicting sample whose h was injected
    mask: MaskInfo | None
    softmax_shift: dict | None  # {value, psi, Psi, source_class} (DBB Eq. 3)
    ig_in_mask: dict | None  # {value, total, mask_fraction} (DBB Eq. 4-5)
    status: str
    person: str | None  # a person's status: it outranks every policy's
    policies: tuple[dict, ...]  # latest {policy, decision, reason} of each policy
    tags: tuple[str, ...]
    backbone: dict = field(default_factory=dict)  # {id, hash}
    artifacts: tuple[dict, ...] = ()  # learned tokens / LoRAs: {id, sha256, kind, name}
    recorded_group: str = ""  # "digit 3 / red": the group the sample is stored in
    # what each judge reads: {judge, group ("digit 3 / ?"), agrees}, newest reading per judge
    read_groups: tuple[dict, ...] = ()


def sample_evidence(store: Store, sample: Sample) -> Evidence:
    recipe = store.get_recipe(sample.recipe_id) if sample.recipe_id is not None else None
    method = recipe.method if recipe is not None else str(sample.meta.get("method", "unknown"))
    scores = store.scores_for(sample.id)
    verdicts = store.verdicts_of(sample.id)
    content = sample.meta.get("content_id")
    return Evidence(
        sample_id=sample.id,
        method=method,
        panels=METHOD_PANELS.get(method, DEFAULT_PANELS),
        source_id=sample.parent_id,
        content_id=int(content) if content is not None else None,
        mask=mask_info(store, sample, recipe.mask_id if recipe is not None else None),
        softmax_shift=_score(scores, "softmax-shift"),
        ig_in_mask=_score(scores, "ig-in-mask"),
        status=verdicts["status"],
        person=verdicts["person"],
        policies=tuple(verdicts["policies"]),
        tags=tuple(store.tags_of(sample.id)),
        backbone={"id": recipe.backbone_id, "hash": recipe.backbone_hash} if recipe else {},
        artifacts=_artifact_refs(recipe),
        recorded_group=group_words(store, sample.y, sample.a),
        read_groups=read_group_rows(store, sample.id),
    )


def group_words(store: Store, y: int | None, a: int | None) -> str:
    """'digit 3 / red'; '?' for a part not read (or none of the project's)."""
    classes, attrs = store.class_names, store.attr_names
    cls = classes[y] if y is not None and y < len(classes) else "?"
    ctx = attrs[a] if a is not None and a < len(attrs) else "?"
    return f"{cls} / {ctx}"


def read_group_rows(store: Store, sample_id: int) -> tuple[dict, ...]:
    reads = store.read_groups([sample_id]).get(sample_id, {})
    return tuple(
        {"judge": judge, "group": group_words(store, r["y"], r["a"]), "agrees": r["agrees"]}
        for judge, r in sorted(reads.items())
    )


def mask_info(store: Store, sample: Sample, recipe_mask: int | None) -> MaskInfo | None:
    """The sample's own mask, else its recipe's, else its source's newest; None without one."""
    row = store.find_mask(sample.id)
    if row is None and recipe_mask is not None:
        row = store.get_mask(recipe_mask)
    if row is None and sample.parent_id is not None:
        row = store.find_mask(sample.parent_id)
    if row is None:
        return None
    owner = row["sample_id"] if row["sample_id"] is not None else sample.id
    segmenter = row.get("segmenter") or "unknown"
    return MaskInfo(row["id"], owner, segmenter, row.get("prompt") or "", row.get("model_hash"))


def _artifact_refs(recipe) -> tuple[dict, ...]:
    """The learned tokens and LoRAs a recipe names (id + content hash), as the runner wrote them."""
    if recipe is None:
        return ()
    return tuple(recipe.tokens.get("artifacts", [])) + tuple(recipe.adapters.get("artifacts", []))


def _score(scores: dict, name: str) -> dict | None:
    if name not in scores:
        return None
    value = scores[name]["value"]
    shown = None if value is None or math.isnan(value) else float(value)
    return {"value": shown, **scores[name]["details"]}


def evidence_text(ev: Evidence) -> str:
    """The evidence as a short Markdown block: verdicts first, then the scores that made them."""
    who = f"person: **{ev.person}**" if ev.person else "person: no decision"
    calls = "; ".join(
        f"policy `{p['policy']}`: **{p['decision']}**"
        + (f" ({p['reason']})" if p["reason"] else "")
        for p in ev.policies
    )
    lines = [
        f"**Method** `{ev.method}` · status **{ev.status}** · {who}"
        + (f" · {calls}" if calls else "")
    ]
    if ev.recorded_group:
        lines.append(f"Recorded group: **{ev.recorded_group}**")
    aside = "set aside by stats and training unless a person accepts it"
    if ev.person == "accepted":  # a person's accept outranks the judge's reading
        aside = "a person accepted it: counted in its recorded group"
    for r in ev.read_groups:
        verdict = "agrees" if r["agrees"] else f"**disagrees**: {aside}"
        lines.append(f"Judge `{r['judge']}` reads: **{r['group']}** ({verdict})")
    if ev.softmax_shift is not None:
        s = ev.softmax_shift
        extra = ""
        if "psi" in s:
            extra = f" (psi {s['psi']:.3f} vs class mean Psi {s['Psi']:.3f})"
        lines.append(f"Softmax shift: {_num(s['value'])}{extra}")
    if ev.ig_in_mask is not None:
        g = ev.ig_in_mask
        extra = f" of total {_num(g['total'])}" if "total" in g else ""
        lines.append(f"IG in mask: {_num(g['value'])}{extra}")
    if ev.mask is not None:
        m = ev.mask
        whose = "this sample" if m.of_sample == ev.sample_id else f"source #{m.of_sample}"
        model = f", model {m.model_hash[:12]}" if m.model_hash else ""
        lines.append(f"Mask #{m.id} of {whose}: {m.segmenter} '{m.prompt}'{model}")
    if ev.tags:
        lines.append("Tags: " + ", ".join(ev.tags))
    if ev.backbone:
        lines.append(f"Backbone `{ev.backbone['id']}` ({(ev.backbone['hash'] or '-')[:12]})")
    for ref in ev.artifacts:
        digest = str(ref.get("sha256") or "")[:12]
        lines.append(
            f"Artifact #{ref.get('id')} {ref.get('kind', '')} `{ref.get('name', '')}` ({digest})"
        )
    return "\n\n".join(lines)


def _num(value) -> str:
    return "-" if value is None else f"{float(value):.4f}"
