"""Embeddings of a project's samples, cached in the store, and their 2-D projections.

Vectors are cached per (extractor spec, weights hash, sample): `embed_missing` computes only the
samples that have none (so new samples are embedded incrementally), one batch per work unit,
each batch stored atomically. A projection is stored with the set of samples it covers and is
reused until that set, the weights or the parameters change.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from debias_core.analysis.features import get_extractor, read_images
from debias_core.analysis.features.base import input_size
from debias_core.analysis.projection import PROJECTIONS, ProjectionConfig, build_params
from debias_core.params import bounded, config_from
from debias_core.store import Store
from debias_core.store.embeddings import Projection, set_key

Progress = Callable[[float, str], None]


def _quiet(fraction: float, message: str) -> None:
    pass


@dataclass(frozen=True)
class EmbedConfig:
    """Which feature space to fill, in batches of `batch_size` images (one work unit each)."""

    features: str = "clip"
    batch_size: int = bounded(256, 1, 4096)

    def check_inputs(self) -> None:
        if not isinstance(self.batch_size, int) or not 1 <= self.batch_size <= 4096:
            raise ValueError(f"batch_size must be an integer in 1-4096, got {self.batch_size!r}")


@dataclass(frozen=True)
class EmbedResult:
    features: str
    model_hash: str
    new: int  # embedded by this call
    total: int  # samples of the project with a vector in this space now
    seconds: float


def check_embed(store: Store, params: dict) -> EmbedConfig:
    """Validate before queuing: config fields, the extractor name and its checkpoint."""
    config = config_from(EmbedConfig, params, "embedding")
    config.check_inputs()
    get_extractor(store, config.features)  # unknown name / missing checkpoint / run id
    return config


def embed_missing(
    store: Store,
    config: EmbedConfig,
    device: str = "cpu",
    progress: Progress = _quiet,
    job_id: int | None = None,
    sample_ids: Sequence[int] | None = None,
    on_plan: Callable[[int], None] | None = None,
) -> EmbedResult:
    """Embed the samples (all of the project by default) that have no cached vector yet.

    `on_plan(n)` hears how many batches (work units) this call will run.
    """
    start = time.perf_counter()
    extractor = get_extractor(store, config.features, device)
    model_hash = extractor.model_id()
    wanted = store.all_sample_ids() if sample_ids is None else np.asarray(sample_ids, np.int64)
    have = store.embedded_ids(extractor.spec, model_hash)
    todo = np.setdiff1d(wanted, have).tolist()
    size = input_size(extractor)
    if on_plan is not None:
        on_plan(-(-len(todo) // config.batch_size))
    for start_at in range(0, len(todo), config.batch_size):
        chunk = todo[start_at : start_at + config.batch_size]
        progress(start_at / len(todo), f"{extractor.spec}: {start_at}/{len(todo)} new samples")
        vectors = extractor.embed(read_images(store, chunk, size))
        unit = f"{extractor.spec}:{chunk[0]}-{chunk[-1]}"
        store.put_embeddings(extractor.spec, model_hash, chunk, vectors, job_id, unit)
    progress(1.0, f"{extractor.spec}: {len(todo)} new samples embedded")
    total = len(np.intersect1d(wanted, store.embedded_ids(extractor.spec, model_hash)))
    return EmbedResult(
        extractor.spec, model_hash, len(todo), total, round(time.perf_counter() - start, 3)
    )


def cached_features(
    store: Store,
    spec: str,
    sample_ids: Sequence[int],
    device: str = "cpu",
    progress: Progress = _quiet,
) -> np.ndarray:
    """Features (N, D) of the samples in their order: computed once, then read from the store."""
    extractor = get_extractor(store, spec, device)
    embed_missing(store, EmbedConfig(spec), device, progress, sample_ids=sample_ids)
    return store.get_embeddings(extractor.spec, extractor.model_id(), sample_ids)


# -- projections ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProjectionResult:
    projection: Projection
    reused: bool  # an identical projection was already stored
    not_embedded: int  # project samples left out because they have no vector (embed=False)


def check_projection(store: Store, params: dict) -> ProjectionConfig:
    config = config_from(ProjectionConfig, params, "projection")
    config.check_inputs()
    get_extractor(store, config.features)
    return config


def project(
    store: Store,
    config: ProjectionConfig,
    device: str = "cpu",
    progress: Progress = _quiet,
    job_id: int | None = None,
    embed: bool = True,
) -> ProjectionResult:
    """2-D coordinates of every sample of the project (reused when already stored).

    `embed=False` projects only the samples already embedded (for a quick PCA in a request);
    the result says how many were left out.
    """
    config.check_inputs()
    extractor = get_extractor(store, config.features, device)
    model_hash = extractor.model_id()
    if embed:

        def embedding_progress(fraction: float, message: str) -> None:
            progress(0.5 * fraction, message)

        embed_missing(store, EmbedConfig(config.features), device, embedding_progress, job_id)
    every = store.all_sample_ids()
    ids = np.intersect1d(every, store.embedded_ids(extractor.spec, model_hash))
    if not len(ids):
        raise ValueError(f"no sample has a {extractor.spec} embedding yet: embed first")
    params = build_params(config.method, config.params)
    stored_params = {**asdict(params), "seed": config.seed}
    key = set_key(ids)
    found = store.find_projection(extractor.spec, model_hash, config.method, stored_params, key)
    if found is not None:
        progress(1.0, f"{config.method}: reused projection {found.id}")
        return ProjectionResult(found, True, len(every) - len(ids))
    progress(0.5, f"{config.method}: projecting {len(ids)} samples")
    started = time.perf_counter()
    features = store.get_embeddings(extractor.spec, model_hash, ids)
    xy = PROJECTIONS.get(config.method).fit_transform(features, params, config.seed)
    seconds = round(time.perf_counter() - started, 3)
    projection_id = store.save_projection(
        extractor.spec, model_hash, config.method, stored_params, ids, xy, seconds, job_id
    )
    progress(1.0, f"{config.method}: {len(ids)} samples in {seconds:.1f} s")
    return ProjectionResult(store.get_projection(projection_id), False, len(every) - len(ids))


def is_current(store: Store, projection: Projection, every: np.ndarray | None = None) -> bool:
    """Whether a projection still covers exactly the project's samples (`every`: their ids)."""
    every = store.all_sample_ids() if every is None else every
    return len(every) == len(projection.ids) and bool(np.array_equal(every, projection.ids))
