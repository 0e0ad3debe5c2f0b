"""Per-sample adapters for generation: one batch mixes concepts, each image with its own LoRA.

A generator that draws from many learned concepts (DecoupleGen's per-image tokens and LoRAs,
Clustered DreamBooth's cluster LoRAs) would otherwise render one concept's images per batch, with
that LoRA attached for the batch (peft activates one adapter set per forward). Here a batch holds
any mix: every token of the batch is loaded, the LoRAs are stacked into batched low-rank layers
(`models.lora_batched`) and row i uses its own one, in both halves of classifier-free guidance.

A recipe drawn this way names every file of its batch (a replay redraws the whole batch) and
records, in `params["batch"]["lora_rows"]`, each row's LoRA artifact id (None: none), which is
what `recipes.regenerate` reads to replay it the same way; where a row's LoRA is attached at a
weight other than 1 (a borrowed donor at `borrowed_lora_scale`, DecoupleGen's `lora_scale`),
`params["batch"]["lora_row_weights"]` records each row's weight too.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

ROWS_KEY = "lora_rows"
WEIGHTS_KEY = "lora_row_weights"


def unique_artifacts(per_row: Sequence[Sequence]) -> list:
    """The distinct artifacts of a batch's rows, in first-use order."""
    seen: dict[int, object] = {}
    for artifacts in per_row:
        for artifact in artifacts:
            seen.setdefault(artifact.id, artifact)
    return list(seen.values())


def row_loras(per_row: Sequence[Sequence]) -> list[int | None]:
    """Each row's LoRA artifact id (None: the row uses no LoRA); at most one per row."""
    out = []
    for artifacts in per_row:
        loras = [a.id for a in artifacts if a.kind == "lora"]
        if len(loras) > 1:
            raise ValueError(f"one LoRA per image can be batched, got artifacts {loras}")
        out.append(loras[0] if loras else None)
    return out


def per_sample_personalization(
    store,
    backbone,
    artifacts: Sequence,
    lora_rows: Sequence[int | None],
    row_weights: Sequence[float] | None = None,
) -> AbstractContextManager:
    """`backbone.per_sample(...)`: all tokens of `artifacts`, and row i with the LoRA whose
    artifact id is `lora_rows[i]`, at weight `row_weights[i]` (default 1: as trained). One file
    at two weights in one batch is two stacked adapters."""
    tokens = [store.artifact_path(a) for a in artifacts if a.kind == "token"]
    loras = {a.id: a for a in artifacts if a.kind == "lora"}
    missing = sorted({i for i in lora_rows if i is not None and i not in loras})
    if missing:
        raise ValueError(f"rows name LoRA artifacts {missing} that the batch does not attach")
    weights = [1.0] * len(lora_rows) if row_weights is None else [float(w) for w in row_weights]
    if len(weights) != len(lora_rows):
        raise ValueError(f"{len(weights)} LoRA weights for {len(lora_rows)} rows")
    slots: dict[tuple[int, float], int] = {}  # (artifact id, weight) -> stacked adapter
    for i, w in zip(lora_rows, weights, strict=True):
        if i is not None:
            slots.setdefault((i, w), len(slots))
    rows = [-1 if i is None else slots[(i, w)] for i, w in zip(lora_rows, weights, strict=True)]
    files = [store.artifact_path(loras[i]) for i, _ in slots]
    return backbone.per_sample(tokens, files, rows, adapter_weights=[w for _, w in slots])


def drawn_per_sample(recipe) -> bool:
    """Whether a recipe's batch was drawn with per-sample adapters (its replay attaches them)."""
    return ROWS_KEY in recipe.params.get("batch", {})


def replay_context(store, backbone, recipe) -> AbstractContextManager:
    """The per-sample attachment a recipe's batch was drawn with, its files verified."""
    from debias_core.generate.recipes import recipe_artifacts

    batch = recipe.params["batch"]
    return per_sample_personalization(
        store, backbone, recipe_artifacts(recipe, store), batch[ROWS_KEY], batch.get(WEIGHTS_KEY)
    )
