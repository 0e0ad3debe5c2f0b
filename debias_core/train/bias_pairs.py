"""Measure a project's biased pairs: train (or reuse) the standard multi-label classifier, score
held-out images, keep the top K pairs by bias score (bias/pairs.py), store them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from debias_core.bias.pairs import PAPER_K, PAPER_MIN_COOCCUR, find_biased_pairs
from debias_core.limits import MAX_EPOCHS, MAX_SEED
from debias_core.models.classifiers import DEFAULT_ARCH
from debias_core.params import bounded, check_values
from debias_core.store import SampleFilter, Store
from debias_core.store.multilabel import BiasedPair
from debias_core.train.base import TrainConfig
from debias_core.train.multilabel import predict_scores
from debias_core.train.run import load_run_model, run_training
from debias_core.train.tensors import load_tensors

Progress = Callable[[float, str], None]
STANDARD = "multilabel-bce"


@dataclass(frozen=True)
class BiasPairsConfig:
    """How to find the pairs. `k` None: 20 as Singh et al., or the number of pairs a synthetic
    dataset was built with (the embedded demo's 5), so its unbiased digits are not kept too."""

    k: int | None = bounded(
        None, 1, 1000, help="pairs kept (default: 20, or the dataset's designed count)",
        paper=PAPER_K,
    )  # fmt: skip
    min_cooccur: float = bounded(
        PAPER_MIN_COOCCUR, 0.0, 0.99,
        help="a context is a candidate when it co-occurs with b in more than this share of "
        "b's train images",
    )  # fmt: skip
    split: str = "val"  # the held-out images the bias score is measured on
    run: int | None = None  # a finished multilabel-bce run to reuse; None trains one
    epochs: int = bounded(12, 1, MAX_EPOCHS, help="epochs of the standard classifier")
    seed: int = 0
    arch: str = DEFAULT_ARCH

    def __post_init__(self) -> None:
        check_values(self)
        if self.split not in ("train", "val", "test"):
            raise ValueError(f"split must be train, val or test, got {self.split!r}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be in 0..{MAX_SEED}, got {self.seed}")
        for name in ("k", "run"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{name} must be a whole number, got {value!r}")


def check_bias_pairs(store: Store, config: BiasPairsConfig) -> BiasPairsConfig:
    """Refuse what cannot work before a job is queued; fill in the default k."""
    if not store.is_multilabel():
        raise ValueError(
            "bias-pairs needs a multi-label project (label sets), e.g. init --dataset "
            "colored-digits-multilabel or coco-stuff"
        )
    if config.run is not None:
        try:
            run = store.get_run(config.run)
        except KeyError:
            raise ValueError(f"there is no run {config.run}") from None
        if run.method != STANDARD or run.status != "done":
            raise ValueError(
                f"run {config.run} is a {run.status} {run.method} run; bias scores come from a "
                f"finished {STANDARD} run"
            )
    if config.k is None:
        designed = len(store.designed_pairs())
        config = replace(config, k=designed or PAPER_K)
    return config


def measure_biased_pairs(
    store: Store,
    config: BiasPairsConfig,
    device: str | torch.device = "cpu",
    progress: Progress | None = None,
    job_id: int | None = None,
) -> tuple[int, list[BiasedPair]]:
    """(run id, pairs): the standard classifier's top-k pairs, stored in `biased_pairs`."""
    config = check_bias_pairs(store, config)
    say = progress or (lambda f, m: None)
    run_id = config.run
    if run_id is None:
        train = TrainConfig(
            method=STANDARD, arch=config.arch, epochs=config.epochs, seed=config.seed
        )
        run_id = run_training(store, train, device, lambda f, m: say(0.9 * f, m), job_id).run_id
    model, train_config = load_run_model(store, run_id, device)
    size = train_config.image_size
    held_out = load_tensors(store, SampleFilter(source="real", split=config.split), size, True)
    say(0.95, f"scoring {len(held_out)} {config.split} images with run {run_id}")
    scores = predict_scores(model, held_out, torch.device(device))
    train_ids = store.sample_ids(SampleFilter(source="real", split="train"))
    pairs = find_biased_pairs(
        scores,
        held_out.targets.numpy(),
        store.label_matrix(train_ids),
        config.k,
        config.min_cooccur,
    )
    pairs = [replace(p, run_id=run_id) for p in pairs]
    store.replace_biased_pairs(pairs)
    say(1.0, f"{len(pairs)} biased pairs from run {run_id}")
    return run_id, pairs
