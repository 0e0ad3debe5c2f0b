"""`group-dreambooth` (Clustered DreamBooth's "DreamBooth" row): identifier token + LoRA per group.

Each group learns from up to 100 of its samples with prompts "a photo of [V] {class}, {context}",
where [V] is a new identifier token of that group; the UNet adapts through a LoRA (as the paper's
DreamBooth pool is implemented) and the identifier's embedding trains too. Optional prior
preservation: `prior_images` images of the plain group prompt are drawn from the pristine model
first and kept reproducible with the plain prompt, weighted by `prior_weight`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from debias_core.params import bounded, check_template
from debias_core.personalize import targets
from debias_core.personalize.base import MAX_LR, PERSONALIZERS, Phase, PromptDraw, TokenSpec
from debias_core.personalize.data import load_concept_data
from debias_core.personalize.group_lora import GroupLora, GroupLoraParams

PRIOR_GUIDANCE = 4.0  # classifier-free guidance of the prior-preservation images


@dataclass(frozen=True)
class GroupDreamBoothParams(GroupLoraParams):
    # "we sample 100 images from each training group"
    samples_per_group: int = bounded(100, limit="per_group")
    token_format: str = "<v-{y}-{a}>"
    identifier_init: str = "photo"
    lr_tokens: float = bounded(1e-3, 0.0, MAX_LR)  # 0 keeps the identifier's initial embedding
    # The paper's DreamBooth prompt has no context words ("photo of a [V] bird", A.6); the
    # embedded model only draws from its caption form, which names the context.
    prompt: str = "a photo of {token} {cls}, {ctx}"
    class_prompt: str = "a photo of {cls}, {ctx}"  # prior preservation prompt (no identifier)
    prior_weight: float = bounded(0.0, 0.0, 100.0)  # 0 = no prior preservation
    prior_images: int = bounded(8, limit="per_group")
    prior_steps: int = bounded(20, limit="steps")  # denoising steps for the prior images

    def check_inputs(self) -> None:
        super().check_inputs()
        if "{token}" not in self.prompt:
            raise ValueError("prompt must contain {token}")
        if self.prior_weight < 0 or self.prior_images < 1 or self.lr_tokens < 0:
            raise ValueError("prior_weight and lr_tokens must be >= 0, prior_images >= 1")
        check_template("class_prompt", self.class_prompt, ("cls", "ctx"))

    placeholders = ("token", "cls", "ctx")


class GroupDreamBooth(GroupLora):
    params_class = GroupDreamBoothParams

    def plan(self, store, config, params):
        groups = targets.samples_by_group(store, config)
        concepts = []
        for (y, a), ids in sorted(groups.items()):
            # "Up to" 100: a smaller group trains on all it has.
            ids = (
                ids
                if config.samples
                else targets.subset(ids, params.samples_per_group, config.seed, y, a)
            )
            concepts.append(self.concept(store, y, a, ids, params))
        return concepts

    def tokens(self, y, a, cluster, params) -> tuple:
        values = {"y": y, "a": a, "k": "" if cluster is None else cluster}
        return (
            TokenSpec(
                targets.token_name(params.token_format, **values),
                params.identifier_init,
                "identifier",
            ),
        )

    def prompt(self, concept, params, gen, index, prior) -> PromptDraw:
        if prior:
            return PromptDraw(params.class_prompt.format(**concept.text))
        token = concept.tokens[0].name
        return PromptDraw(params.prompt.format(token=token, **concept.text), (token,))

    def load_data(self, store, backbone, concept, params):
        if not params.prior_weight:
            return load_concept_data(store, backbone, concept)
        prior = prior_images(backbone, params.class_prompt.format(**concept.text), concept, params)
        return load_concept_data(
            store, backbone, concept, prior_images=prior, prior_weight=params.prior_weight
        )

    def phases(self, config, params) -> list[Phase]:
        train_token = params.lr_tokens > 0
        return [
            Phase(
                "token+lora",
                config.steps,
                train_token,
                True,
                lr_tokens=params.lr_tokens or 1.0,
                lr_lora=params.lr,
            )
        ]


def prior_images(backbone, prompt: str, concept, params) -> np.ndarray:
    """Class images from the pristine model, seeded by the concept (same in any batch)."""
    from debias_core.generate.txt2img import run_pipeline
    from debias_core.personalize.base import concept_seed

    seeds = [concept_seed(k, concept.key) % (2**31) for k in range(params.prior_images)]
    negatives = [""] * len(seeds)
    return run_pipeline(
        backbone, [prompt] * len(seeds), negatives, seeds, params.prior_steps, PRIOR_GUIDANCE
    )


PERSONALIZERS.register("group-dreambooth")(GroupDreamBooth())
