"""Regenerate an image from its stored recipe."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from debias_core.generate import machine
from debias_core.generate.base import GENERATORS
from debias_core.store import Recipe, Store


def artifact_refs(recipe: Recipe) -> list[dict]:
    """The learned artifacts (tokens, LoRAs) a recipe names, as {id, sha256, ...} dicts."""
    return list(recipe.tokens.get("artifacts", [])) + list(recipe.adapters.get("artifacts", []))


def recipe_artifacts(recipe: Recipe, store: Store | None) -> list:
    """Load the recipe's artifacts, refusing (ValueError) when one is missing or changed."""
    refs = artifact_refs(recipe)
    if refs and store is None:
        raise ValueError("this recipe uses learned artifacts: replay it with its project")
    return [store.verified_artifact(int(ref["id"]), ref.get("sha256")) for ref in refs]


def regenerate(recipe: Recipe, backbone, store: Store | None = None) -> Image.Image:
    """Re-run a recipe on `backbone`; refuses a backbone whose weights differ from the recipe's,
    and artifacts (learned tokens / LoRAs) that are missing or changed since the recipe.

    `store` is the project holding the recipe's source images and artifacts.
    """
    from debias_core.generate.runner import personalization

    if recipe.backbone_hash and recipe.backbone_hash != backbone.content_hash:
        raise ValueError(
            f"the recipe was made with backbone {recipe.backbone_id} "
            f"(hash {recipe.backbone_hash[:12]}), but the loaded one has hash "
            f"{backbone.content_hash[:12]}: the image cannot be reproduced exactly"
        )
    from debias_core.generate.adapters import drawn_per_sample, replay_context

    if drawn_per_sample(recipe):  # one batch, each row with its own LoRA (and weight)
        attach = replay_context(store, backbone, recipe)
    else:
        weight = recipe.adapters.get("weight", 1.0)
        attach = personalization(store, backbone, recipe_artifacts(recipe, store), weight)
    with attach:
        return Image.fromarray(GENERATORS.get(recipe.method).replay(backbone, recipe, store))


@dataclass(frozen=True)
class Replay:
    """A stored sample redrawn from its recipe, compared with the stored pixels."""

    image: Image.Image
    max_difference: int  # largest per-channel difference to the stored image, 0-255
    recorded: dict  # the machine kind the recipe was drawn on ({} for an old recipe)
    here: dict  # the machine kind of this replay

    @property
    def same_machine(self) -> bool:
        return not machine.differences(self.recorded, self.here)

    def describe(self) -> str:
        """One line: bit-exact on the same machine kind; elsewhere the difference and its bound."""
        diff, bound = self.max_difference, machine.CROSS_MACHINE_BOUND
        if self.same_machine:
            if diff == 0:
                return f"bit-exact: identical to the stored image ({machine.describe(self.here)})"
            return (
                f"NOT bit-exact although the machine kind matches: max pixel difference {diff} "
                "(of 255); this is a bug, please report it"
            )
        changed = "; ".join(machine.differences(self.recorded, self.here))
        verdict = "identical" if diff == 0 else f"max pixel difference {diff} (of 255)"
        beyond = f", beyond the expected {bound}: check the recipe" * (diff > bound)
        return (
            f"replayed on another machine kind ({changed}): {verdict}; bit-exact replay is "
            f"promised only on the same kind, elsewhere a difference <= {bound} is expected"
            f"{beyond}"
        )


def max_difference(a, b) -> int:
    a, b = np.asarray(a, dtype=np.int16), np.asarray(b, dtype=np.int16)
    if a.shape != b.shape:
        return 255
    return int(np.abs(a - b).max()) if a.size else 0


def replay_sample(store: Store, sample_id: int, device: str = "cpu") -> Replay:
    """Regenerate a sample and compare it with the stored image (see `Replay.describe`)."""
    image = regenerate_sample(store, sample_id, device)
    recorded = store.get_recipe(store.get_sample(sample_id).recipe_id).machine
    stored = store.sample_image(sample_id)
    here = machine.machine_kind(device)
    return Replay(image, max_difference(image, stored), recorded, here)


def regenerate_sample(store: Store, sample_id: int, device: str = "cpu") -> Image.Image:
    from debias_core.generate.runner import cached_backbone

    sample = store.get_sample(sample_id)
    if sample.recipe_id is None:
        raise ValueError(f"sample {sample_id} is a real sample; it has no recipe to re-run")
    recipe = store.get_recipe(sample.recipe_id)
    return regenerate(recipe, cached_backbone(recipe.backbone_id, device), store)
