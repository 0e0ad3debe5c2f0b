"""`textual-inversion` (DBB, seed 003 section 4.1): one new token per class.

The token is learned from a random subset of K samples of the class (or the samples / groups the
user picked, e.g. minority samples as DBB recommends), with prompts like "a photo of a <c-3>
digit 3, white stroke, on a red background": the sample's context is named in words, so the token
is pushed to carry the class's own (causal) appearance. Only the token's embedding row trains.
"""

from __future__ import annotations

from dataclasses import dataclass

from debias_core.params import bounded, check_template
from debias_core.personalize import targets
from debias_core.personalize.base import (
    MAX_LR,
    PERSONALIZERS,
    Concept,
    MethodParams,
    Phase,
    PromptDraw,
    TokenSpec,
    pick,
)
from debias_core.personalize.data import load_concept_data


@dataclass(frozen=True)
class TextualInversionParams(MethodParams):
    samples_per_class: int = bounded(20, limit="per_group")  # K; DBB used 20-40 per class
    token_format: str = "<c-{y}>"
    templates: tuple[str, ...] = ("a photo of a {token} {cls}, {ctx}",)
    initializer: str = ""  # words the token starts from; empty = the class name
    lr: float = bounded(5e-3, 0.0, MAX_LR)

    def check_inputs(self) -> None:
        super().check_inputs()
        if self.samples_per_class < 1:
            raise ValueError("samples_per_class must be >= 1")
        if not self.templates or any("{token}" not in t for t in self.templates):
            raise ValueError("every template must contain {token}")
        for template in self.templates:
            check_template("template", template, ("token", "cls", "ctx"))
        if "{y}" not in self.token_format:
            raise ValueError("token_format must contain {y} (one token per class)")
        if self.lr <= 0:
            raise ValueError("lr must be > 0")


class TextualInversion:
    params_class = TextualInversionParams
    targets = ("classes", "samples")  # one token per class: groups would name part of a class

    def plan(self, store, config, params) -> list[Concept]:
        concepts = []
        for y, ids in sorted(targets.samples_by_class(store, config).items()):
            name = targets.class_name(store, y)
            if not config.samples:  # picked samples are used as given; otherwise K at random
                targets.require_size(f"class {y} ({name!r})", ids, params.samples_per_class)
                ids = targets.subset(ids, params.samples_per_class, config.seed, y)
            token = targets.token_name(params.token_format, y=y)
            concepts.append(
                Concept(
                    key=f"class-{y}",
                    scope="class",
                    sample_ids=tuple(ids),
                    tokens=(TokenSpec(token, params.initializer or name, "concept"),),
                    y=y,
                    text={"cls": name},
                    contexts=targets.contexts_of(store, ids),
                )
            )
        return concepts

    def prompt(self, concept, params, gen, index, prior) -> PromptDraw:
        template = params.templates[pick(gen, len(params.templates))]
        token = concept.tokens[0].name
        text = template.format(token=token, cls=concept.text["cls"], ctx=concept.contexts[index])
        return PromptDraw(text, (token,))

    def reconstruction(self, concept, params) -> PromptDraw:
        token = concept.tokens[0].name
        ctx = concept.contexts[0] if concept.contexts else concept.text.get("ctx", "")
        return PromptDraw(
            params.templates[0].format(token=token, cls=concept.text["cls"], ctx=ctx), (token,)
        )

    def load_data(self, store, backbone, concept, params):
        return load_concept_data(store, backbone, concept)

    def phases(self, config, params) -> list[Phase]:
        return [Phase("tokens", config.steps, True, False, lr_tokens=params.lr)]


PERSONALIZERS.register("textual-inversion")(TextualInversion())
