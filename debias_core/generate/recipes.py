"""Regenerate an image from its stored recipe."""

from __future__ import annotations

from PIL import Image

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
    artifacts = recipe_artifacts(recipe, store)
    with personalization(store, backbone, artifacts):
        return Image.fromarray(GENERATORS.get(recipe.method).replay(backbone, recipe, store))


def regenerate_sample(store: Store, sample_id: int, device: str = "cpu") -> Image.Image:
    from debias_core.generate.runner import cached_backbone

    sample = store.get_sample(sample_id)
    if sample.recipe_id is None:
        raise ValueError(f"sample {sample_id} is a real sample; it has no recipe to re-run")
    recipe = store.get_recipe(sample.recipe_id)
    return regenerate(recipe, cached_backbone(recipe.backbone_id, device), store)
