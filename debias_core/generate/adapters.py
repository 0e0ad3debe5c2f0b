"""Per-sample adapters for generation: one batch mixes concepts, each image with its own LoRA.

A generator that draws from many learned concepts (DecoupleGen's per-image tokens and LoRAs,
Clustered DreamBooth's cluster LoRAs) would otherwise render one concept's images per batch, with
that LoRA attached for the batch (peft activates one adapter set per forward). Here a batch holds
any mix: every token of the batch is loaded, the LoRAs are stacked into batched low-rank layers
(`models.lora_batched`) and row i uses its own one, in both halves of classifier-free guidance.

A recipe drawn this way names every file of its batch (a replay redraws the whole batch) and
records, in `params["batch"]["lora_rows"]`, each row's LoRA artifact id (None: none), which is
what `recipes.regenerate` reads to replay it the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

ROWS_KEY = "lora_rows"


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
    store, backbone, artifacts: Sequence, lora_rows: Sequence[int | None]
) -> AbstractContextManager:
    """`backbone.per_sample(...)`: all tokens of `artifacts`, and row i with the LoRA whose
    artifact id is `lora_rows[i]`."""
    tokens = [store.artifact_path(a) for a in artifacts if a.kind == "token"]
    loras = [a for a in artifacts if a.kind == "lora"]
    position = {a.id: k for k, a in enumerate(loras)}
    missing = sorted({i for i in lora_rows if i is not None and i not in position})
    if missing:
        raise ValueError(f"rows name LoRA artifacts {missing} that the batch does not attach")
    rows = [-1 if i is None else position[i] for i in lora_rows]
    return backbone.per_sample(tokens, [store.artifact_path(a) for a in loras], rows)


def drawn_per_sample(recipe) -> bool:
    """Whether a recipe's batch was drawn with per-sample adapters (its replay attaches them)."""
    return ROWS_KEY in recipe.params.get("batch", {})


def replay_context(store, backbone, recipe) -> AbstractContextManager:
    """The per-sample attachment a recipe's batch was drawn with, its files verified."""
    from debias_core.generate.recipes import recipe_artifacts

    return per_sample_personalization(
        store, backbone, recipe_artifacts(recipe, store), recipe.params["batch"][ROWS_KEY]
    )
