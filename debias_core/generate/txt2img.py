"""txt2img: text-to-image per group on the denoising loop (`generate/loop.py`).

Registered twice: `txt2img` (vanilla prompts) and `contrastive` (varied wordings with the
other contexts as negatives; the `ffr` generator's prompts before it followed the paper); `ffr`
(generate/ffr.py) builds on it with FFR's prompts. Each records, per image, the whole batch it
was drawn in (seeds, prompts): a batch is replayed as a batch, because batched and single-image
runs are not bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from debias_core.generate import loop
from debias_core.generate.base import (
    GENERATORS,
    GenerateConfig,
    GroupBatches,
    WorkUnit,
    method_params,
    recipe_for,
    steps_of,
)
from debias_core.generate.prompts import TEMPLATES, group_text
from debias_core.store.records import GeneratedImage, Recipe


@dataclass(frozen=True)
class PromptParams:
    """Parameters of the prompt-based methods."""

    template: str = field(
        default="vanilla", metadata={"help": "prompt template name", "choices": TEMPLATES}
    )

    def check_inputs(self) -> None:
        TEMPLATES.get(self.template)  # unknown -> ValueError listing the valid ones


def image_seed(seed: int, y: int, a: int, k: int) -> int:
    """A per-image seed that depends only on (job seed, group, index): stable across batching."""
    return int(np.random.SeedSequence([seed, y, a, k]).generate_state(1)[0])


def run_pipeline(backbone, prompts, negatives, seeds, steps: int, guidance: float) -> np.ndarray:
    """Images (B, H, W, 3) uint8; each image's initial noise comes from its own seed."""
    return loop.sample(
        backbone, list(prompts), list(seeds), steps, guidance, negatives=list(negatives)
    ).images


class TextToImage:
    """Prompts from a template per group; no source images."""

    default_steps = 20
    attribute_site = "anywhere"  # the whole image follows the group's prompt
    plans_own_targets = False  # a job names the groups it draws

    def __init__(self, template: str) -> None:
        self.default_params = PromptParams(template)

    def check(self, store, config: GenerateConfig) -> None:
        method_params(self, config)

    def plan(self, store, config: GenerateConfig, groups) -> GroupBatches:
        meta = store.meta()
        template = TEMPLATES.get(method_params(self, config).template)

        def unit(y: int, a: int, ks: range) -> WorkUnit:
            text = group_text(meta, y, a)
            return self.make_unit(config, y, a, ks, [template(text, k) for k in ks])

        return GroupBatches(list(groups), config.per_group, config.batch_size, unit)

    def make_unit(self, config, y, a, ks, pairs, artifact_ids=None) -> WorkUnit:
        """Images `ks` of group (y, a) from their (prompt, negative) pairs; `artifact_ids`: the
        learned files they attach (FFR's per-group LoRAs), named in their recipes."""
        return WorkUnit(
            key=f"{config.method}-y{y}-a{a}-{ks.start}",
            y=y,
            a=a,
            seeds=tuple(image_seed(config.seed, y, a, k) for k in ks),
            prompts=tuple(p for p, _ in pairs),
            negatives=tuple(n for _, n in pairs),
            extra={} if artifact_ids is None else {"artifacts": artifact_ids},
        )

    def render(
        self, backbone, unit: WorkUnit, config: GenerateConfig, store=None
    ) -> list[GeneratedImage]:
        steps = steps_of(self, config)
        images = run_pipeline(
            backbone, unit.prompts, unit.negatives, unit.seeds, steps, config.guidance
        )
        batch = {
            "seeds": list(unit.seeds),
            "prompts": list(unit.prompts),
            "negatives": list(unit.negatives),
        }
        template = method_params(self, config).template
        return [
            GeneratedImage(
                image,
                unit.y,
                unit.a,
                recipe_for(
                    backbone,
                    config.method,
                    steps,
                    config.guidance,
                    seed=unit.seeds[i],
                    prompt=unit.prompts[i],
                    negative_prompt=unit.negatives[i],
                    params={"template": template, "batch": batch, "index": i},
                ),
            )
            for i, image in enumerate(images)
        ]

    def replay(self, backbone, recipe: Recipe, store=None) -> np.ndarray:
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
GENERATORS.register("contrastive")(TextToImage("contrastive"))
