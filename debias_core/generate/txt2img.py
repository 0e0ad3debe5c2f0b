"""txt2img: text-to-image per group with the backbone's own Stable Diffusion pipeline.

Registered twice: `txt2img` (vanilla prompts) and `ffr` (FFR-style varied prompts with the other
contexts as negatives). Both record, per image, the whole batch it was drawn in (seeds, prompts):
a batch is replayed as a batch, because batched and single-image runs are not bit-identical.
"""

from __future__ import annotations

import numpy as np
import torch

from debias_core.generate.base import GENERATORS, GenerateConfig, GroupBatches, WorkUnit
from debias_core.generate.prompts import TEMPLATES, group_text
from debias_core.store.records import GeneratedImage, Recipe


def image_seed(seed: int, y: int, a: int, k: int) -> int:
    """A per-image seed that depends only on (job seed, group, index): stable across batching."""
    return int(np.random.SeedSequence([seed, y, a, k]).generate_state(1)[0])


def run_pipeline(backbone, prompts, negatives, seeds, steps: int, guidance: float) -> np.ndarray:
    """Images (B, H, W, 3) uint8; one torch.Generator per image fixes its initial noise."""
    generators = [torch.Generator(backbone.device).manual_seed(s) for s in seeds]
    size = backbone.image_size
    out = backbone.txt2img_pipeline()(
        prompt=list(prompts),
        negative_prompt=list(negatives) if any(negatives) else None,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=generators,
        height=size,
        width=size,
        output_type="np",
    ).images
    return np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)


class TextToImage:
    """Prompts from a template per group; no source images."""

    def __init__(self, template: str) -> None:
        self.template = template

    def plan(self, meta: dict, config: GenerateConfig, groups) -> GroupBatches:
        template = TEMPLATES.get(config.params.get("template", self.template))

        def unit(y: int, a: int, ks: range) -> WorkUnit:
            text = group_text(meta, y, a)
            pairs = [template(text, k) for k in ks]
            return WorkUnit(
                key=f"{config.method}-y{y}-a{a}-{ks.start}",
                y=y,
                a=a,
                seeds=tuple(image_seed(config.seed, y, a, k) for k in ks),
                prompts=tuple(p for p, _ in pairs),
                negatives=tuple(n for _, n in pairs),
            )

        return GroupBatches(list(groups), config.per_group, config.batch_size, unit)

    def render(self, backbone, unit: WorkUnit, config: GenerateConfig) -> list[GeneratedImage]:
        images = run_pipeline(
            backbone, unit.prompts, unit.negatives, unit.seeds, config.steps, config.guidance
        )
        batch = {
            "seeds": list(unit.seeds),
            "prompts": list(unit.prompts),
            "negatives": list(unit.negatives),
        }
        return [
            GeneratedImage(
                image,
                unit.y,
                unit.a,
                Recipe(
                    method=config.method,
                    backbone_id=backbone.spec,
                    backbone_hash=backbone.content_hash,
                    seed=unit.seeds[i],
                    prompt=unit.prompts[i],
                    negative_prompt=unit.negatives[i],
                    scheduler=type(backbone.scheduler).__name__,
                    steps=config.steps,
                    guidance=config.guidance,
                    params={"template": self.template, "batch": batch, "index": i},
                ),
            )
            for i, image in enumerate(images)
        ]

    def replay(self, backbone, recipe: Recipe) -> np.ndarray:
        batch = recipe.params["batch"]
        images = run_pipeline(
            backbone,
            batch["prompts"],
            batch["negatives"],
            batch["seeds"],
            recipe.steps,
            recipe.guidance,
        )
        return images[recipe.params["index"]]


GENERATORS.register("txt2img")(TextToImage("vanilla"))
GENERATORS.register("ffr")(TextToImage("ffr"))
