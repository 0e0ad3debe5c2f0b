"""Masks of the samples from a registered segmenter, persisted with their source, as a job.

`segment` job params: {segmenter, prompt, params, source, split, ids, chunk}. The prompt is a
template over the sample's class name ("{class}" by default; any other text works as is). Samples
that already have a mask from the same segmenter, prompt and model are skipped.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from debias_core.models.segmenters import SEGMENTERS
from debias_core.params import build_params, config_from
from debias_core.store import SampleFilter, Store
from debias_core.store.verify import MaskRow

if TYPE_CHECKING:  # a job body takes the context; it never imports the executor
    from debias_core.jobs.base import JobContext

CHUNK = 16


@dataclass(frozen=True)
class SegmentConfig:
    segmenter: str = "grounded-sam"
    prompt: str = "{class}"
    params: dict[str, Any] = field(default_factory=dict)  # the segmenter's own parameters
    source: str = "real"
    split: str | None = "train"
    ids: tuple[int, ...] = ()  # explicit samples instead of source / split
    chunk: int = CHUNK


def segmenter_params(name: str, raw: dict | None):
    kind = SEGMENTERS.get(name)
    return build_params(kind.default_params, raw, what=f"segmenter {name}")


@functools.lru_cache(maxsize=2)
def load_segmenter(name: str, params, device: str = "cpu"):
    """A loaded segmenter, once per process (real GroundingDINO + SAM take seconds to load)."""
    return SEGMENTERS.get(name).load(params, device)


def prompt_for(template: str, class_names: list[str], y: int) -> str:
    name = class_names[y] if y < len(class_names) else f"class {y}"
    return template.replace("{class}", name)


def segment_rows(store: Store, segmenter, samples, template: str) -> list[MaskRow]:
    """Run a loaded segmenter on samples; one MaskRow per sample it found something in."""
    names = store.class_names
    prompts = [prompt_for(template, names, s.y) for s in samples]
    found = segmenter.segment(store, [s.id for s in samples], prompts)
    return [
        MaskRow(s.id, seg.mask, segmenter.name, p, segmenter.model_hash, {"score": seg.score})
        for s, p, seg in zip(samples, prompts, found, strict=True)
        if seg is not None and segmenter.name != "dataset"  # dataset masks are stored already
    ]


def check_segment(store: Store, params: dict) -> SegmentConfig:
    config = config_from(SegmentConfig, params, "segment")
    SEGMENTERS.get(config.segmenter).check(segmenter_params(config.segmenter, config.params))
    if config.chunk < 1:
        raise ValueError("chunk must be >= 1")
    return config


def canonical_segment_params(store: Store, params: dict) -> dict:
    """Validated params with every default filled in (equal work gives equal params)."""
    from dataclasses import asdict

    return asdict(check_segment(store, params))


def run_segment_job(ctx: JobContext, params: dict) -> dict:
    """Job body (kind "segment", registered in jobs/kinds.py): masks in resumable chunks."""
    config = check_segment(ctx.store, params)
    seg_params = segmenter_params(config.segmenter, config.params)
    where = (
        SampleFilter(ids=config.ids)
        if config.ids
        else SampleFilter(source=config.source, split=config.split)
    )
    samples = ctx.store.list_samples(where)
    chunks = [samples[i : i + config.chunk] for i in range(0, len(samples), config.chunk)]
    ctx.set_units_total(len(chunks))
    segmenter = None
    made = 0
    for k, chunk in enumerate(chunks):
        key = f"segment-{k}"
        if ctx.unit_done(key):
            continue
        segmenter = segmenter or load_segmenter(config.segmenter, seg_params, ctx.device)
        todo = [s for s in chunk if not _has_mask(ctx.store, s, segmenter, config, seg_params)]
        rows = segment_rows(ctx.store, segmenter, todo, config.prompt) if todo else []
        made += len(ctx.store.record_masks(rows, ctx.job_id, key))
        ctx.progress((k + 1) / len(chunks), f"masks: {k + 1}/{len(chunks)} chunks")
    return {"message": f"{made} masks made for {len(samples)} samples", "masks": made}


def _has_mask(store: Store, sample, segmenter, config: SegmentConfig, seg_params) -> bool:
    prompt = prompt_for(config.prompt, store.class_names, sample.y)
    row = store.find_mask(
        sample.id,
        segmenter=config.segmenter,
        prompt=None if segmenter.name == "dataset" else prompt,
    )
    return row is not None and row["model_hash"] == segmenter.model_hash
