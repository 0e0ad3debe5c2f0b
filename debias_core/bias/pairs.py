"""Biased (object, context) pairs found as Singh et al. (CVPR 2020, section 3.1) find them.

For each label b, the candidate contexts are the labels z that co-occur with b in more than a
share `min_cooccur` of b's training images; a standard multi-label classifier's bias score
bias(b, z) = mean p(b) over images with b and z / mean p(b) over images with b without z is
measured on held-out images, b's context c is the candidate with the highest score, and the
K pairs with the highest scores are kept (K = 20 on COCO-Stuff).

Pure numpy: the classifier's scores come in; training it is `evaluate.bias_pairs`' job.
"""

from __future__ import annotations

import numpy as np

from debias_core.evaluate.metrics import bias_score
from debias_core.store.multilabel import BiasedPair

PAPER_K = 20  # Singh et al. keep the 20 most biased pairs of COCO-Stuff
PAPER_MIN_COOCCUR = 0.1  # contexts co-occurring with b in more than 10% of its images


def candidate_contexts(train_targets: np.ndarray, b: int, min_cooccur: float) -> list[int]:
    """Labels z != b that co-occur with b in more than `min_cooccur` of b's train images."""
    has_b = train_targets[:, b] > 0
    if not has_b.any():
        return []
    share = (train_targets[has_b] > 0).mean(axis=0)
    return [int(z) for z in np.flatnonzero(share > min_cooccur) if z != b]


def find_biased_pairs(
    scores: np.ndarray,
    targets: np.ndarray,
    train_targets: np.ndarray,
    k: int = PAPER_K,
    min_cooccur: float = PAPER_MIN_COOCCUR,
) -> list[BiasedPair]:
    """The top-`k` (b, c) pairs by bias score, highest first.

    `scores` / `targets` (N, L): the classifier's sigmoid scores and the labels of the held-out
    images the score is measured on; `train_targets` (M, L): the training labels that decide
    which contexts co-occur. A candidate without held-out images of b both with and without it
    has no score and is skipped.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not 0.0 <= min_cooccur < 1.0:
        raise ValueError(f"min_cooccur must be in [0, 1), got {min_cooccur}")
    best = []
    for b in range(targets.shape[1]):
        scored = []
        for z in candidate_contexts(train_targets, b, min_cooccur):
            try:
                scored.append((bias_score(scores, targets, b, z), z))
            except ValueError:  # no held-out image of b with (or without) z
                continue
        if scored:
            value, c = max(scored)
            has_b, has_c = targets[:, b] > 0, targets[:, c] > 0
            n_cooccur, n_exclusive = int((has_b & has_c).sum()), int((has_b & ~has_c).sum())
            best.append(BiasedPair(b, c, float(value), None, None, n_cooccur, n_exclusive))
    best.sort(key=lambda p: (-p.bias_score, p.b))
    return [
        BiasedPair(p.b, p.c, p.bias_score, rank, None, p.n_cooccur, p.n_exclusive)
        for rank, p in enumerate(best[:k], start=1)
    ]
