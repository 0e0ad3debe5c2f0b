"""`group-lora` (Clustered DreamBooth, seed 002 section 3.2, "LoRA-finetuning"): a LoRA per group.

Each (class, context) group gets its own LoRA, trained on l = min group size samples (the
smallest of the groups being trained, as the paper takes the smallest group of the dataset)
with the group's plain prompt, e.g. "a photo of digit 3, white stroke, on a red background".
"""

from __future__ import annotations

from dataclasses import dataclass

from debias_core.generate.prompts import group_text
from debias_core.limits import MAX_RANK
from debias_core.params import bounded, check_template
from debias_core.personalize import targets
from debias_core.personalize.base import (
    MAX_LR,
    PERSONALIZERS,
    Concept,
    MethodParams,
    Phase,
    PromptDraw,
)
from debias_core.personalize.data import load_concept_data


@dataclass(frozen=True)
class GroupLoraParams(MethodParams):
    samples_per_group: int = bounded(0, limit="per_group")  # l; 0 = the smallest group's size
    # LoRA rank: 4 on the embedded model; Clustered DreamBooth (A.8) uses r = alpha = 16 on SD
    # (the project's LoRA scales by alpha / r = 1 at any rank, as r = alpha does)
    rank: int = bounded(4, 1, MAX_RANK, paper=16)
    lr: float = bounded(1e-3, 0.0, MAX_LR)
    prompt: str = "a photo of {cls}, {ctx}"

    def check_inputs(self) -> None:
        super().check_inputs()
        if self.samples_per_group < 0:
            raise ValueError("samples_per_group must be >= 0 (0: the smallest group's size)")
        if self.lr <= 0:
            raise ValueError("lr must be > 0")
        check_template("prompt", self.prompt, self.placeholders)

    placeholders = ("cls", "ctx")  # the words a group's prompt may name


class GroupLora:
    params_class = GroupLoraParams
    targets = ("groups", "classes", "samples")  # classes: every group of them
    scope = "group"

    def group_size(self, groups: dict, params) -> int:
        if params.samples_per_group:
            return params.samples_per_group
        return min(len(ids) for ids in groups.values())

    def plan(self, store, config, params) -> list[Concept]:
        groups = targets.samples_by_group(store, config)
        k = self.group_size(groups, params)
        concepts = []
        for (y, a), ids in sorted(groups.items()):
            if not config.samples:
                targets.require_size(f"group ({y}, {a})", ids, k)
                ids = targets.subset(ids, k, config.seed, y, a)
            concepts.append(self.concept(store, y, a, ids, params))
        return concepts

    def concept(self, store, y, a, ids, params, cluster: int | None = None) -> Concept:
        text = group_text(store.meta(), y, a)
        key = f"group-{y}-{a}" + (f"-k{cluster}" if cluster is not None else "")
        return Concept(
            key=key,
            scope=self.scope,
            sample_ids=tuple(ids),
            tokens=self.tokens(y, a, cluster, params),
            lora=True,
            y=y,
            a=a,
            cluster=cluster,
            text={"cls": text.class_text, "ctx": text.context_text},
        )

    def tokens(self, y, a, cluster, params) -> tuple:
        return ()

    def prompt(self, concept, params, gen, index, prior) -> PromptDraw:
        return PromptDraw(params.prompt.format(**concept.text))

    def reconstruction(self, concept, params) -> PromptDraw:
        return self.prompt(concept, params, None, 0, False)

    def load_data(self, store, backbone, concept, params):
        return load_concept_data(store, backbone, concept)

    def phases(self, config, params) -> list[Phase]:
        return [Phase("lora", config.steps, False, True, lr_lora=params.lr)]


PERSONALIZERS.register("group-lora")(GroupLora())
