"""Which sklearn digits the embedded models learned from (the world pool), read from their cards.

The embedded backbone (with its digit judge) and CLIP were trained on the world pool that
`colored_digits.load_pools(seed)` draws with their build seed; the task pool, and so every
train / val / test image of a Colored Digits project, must come from the other digits, or a
generated image can copy a test digit and the benchmark leaks. So the world / task boundary is
fixed by the models' build, recorded in each card's `quality.json` (`config.seed`): a rebuilt
model carries its own. The dataset seed (`init --seed S`) only redraws which task-pool digits are
train, val and test, and how they are rendered.

Before this, `load_pools(S)` moved the boundary with S: for S != 0 about 30% of the task pool
(test digits included) were digits the models had been trained on. `leak_warning` tells such a
project apart when it is opened.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# The models trained on the world pool: the backbone's card also covers its digit judge.
CARDS = (
    REPO_ROOT / "assets" / "tiny-sd" / "quality.json",
    REPO_ROOT / "assets" / "tiny-clip" / "quality.json",
)
BUILD_WORLD_FRACTION = 0.3  # both builds call load_pools(seed) with its default fraction
DEFAULT_WORLD_SEED = 0  # what a checkout without the embedded models uses


def card_seed(card: Path) -> int:
    """The build seed a model's `quality.json` records (`config.seed`)."""
    try:
        return int(json.loads(Path(card).read_text())["config"]["seed"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{card} records no build seed (config.seed): {exc}") from None


def world_seed(cards: Sequence[Path] = CARDS) -> int:
    """The seed of the world pool every present embedded model was built on.

    Models built on different world pools would each have seen part of the other's task pool,
    so that is refused, naming the cards.
    """
    seeds = {str(card): card_seed(card) for card in cards if Path(card).is_file()}
    if not seeds:
        return DEFAULT_WORLD_SEED
    if len(set(seeds.values())) > 1:
        raise ValueError(
            f"the embedded models were built on different world pools {seeds}: rebuild them "
            "with one seed so that no task-pool digit is one a model was trained on"
        )
    return next(iter(seeds.values()))


def leak_warning(meta: dict, cards: Sequence[Path] = CARDS) -> str | None:
    """A warning for a Colored Digits project whose task pool overlaps the models' world pool.

    Projects record the world seed they were drawn with (`dataset_params.world_seed`); one made
    before that, with a dataset seed other than 0, drew its task pool from `load_pools(seed)`.
    """
    if meta.get("dataset") not in ("colored-digits", "colored-digits-multilabel"):
        return None
    params = meta.get("dataset_params") or {}
    seed = int(params.get("seed", 0))
    recorded = params.get("world_seed")
    try:
        current = world_seed(cards)
    except ValueError as exc:
        return str(exc)
    if recorded is None and seed == DEFAULT_WORLD_SEED == current:
        return None  # the old rule drew exactly this split
    if recorded is not None and int(recorded) == current:
        return None
    drawn = f"world seed {recorded}" if recorded is not None else f"dataset seed {seed}"
    return (
        f"this project's task pool was drawn with {drawn}, but the embedded backbone, CLIP and "
        f"digit judge were trained on the world pool of seed {current}: about 30% of its "
        "train / val / test digits may be ones they saw, so generated-data results may be "
        "optimistic. Create the project again (`init`) for a split that cannot leak."
    )
