"""`clip-label` (Clustered DreamBooth, seed 002 Section 3.3): CLIP-Label(I, p^c), the cosine
similarity of a generated image's CLIP embedding to the text "a photo of {class}".

The paper's prompt is "Photo of a {c}"; the default here, "a photo of {cls}", is the wording the
embedded CLIP was trained on ("a photo of digit 3"), and reads the same for real class names. The
prompt may also name the sample's context with `{ctx}`. `clip` chooses the model: `embedded` (the
demo's tiny CLIP), `vit-b-32` / `vit-l-14` (OpenAI's, from local files) or a folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from debias_core.verify.base import SCORERS, ScoreBatch
from debias_core.verify.resources import check_clip, clip_image_embeddings

CLIP_HELP = "CLIP model: embedded, vit-b-32, vit-l-14, or a folder / hub id on this machine"


@dataclass(frozen=True)
class ClipLabelParams:
    clip: str = field(default="embedded", metadata={"help": CLIP_HELP})
    prompt: str = field(
        default="a photo of {cls}",
        metadata={"help": "text each image is compared with ({cls}: class, {ctx}: context)"},
    )

    def check_inputs(self) -> None:
        if "{cls}" not in self.prompt:
            raise ValueError("prompt must contain {cls} (the class name)")
        try:
            self.prompt.format(cls="", ctx="")
        except (KeyError, IndexError, ValueError):
            raise ValueError("prompt may only use {cls} and {ctx}") from None


def label_prompt(meta: dict, template: str, y: int, a: int) -> str:
    from debias_core.generate.prompts import group_text

    text = group_text(meta, y, a)
    return template.format(cls=text.class_text, ctx=text.context_text)


@SCORERS.register("clip-label")
class ClipLabel:
    default_params = ClipLabelParams()

    @staticmethod
    def check(store, params: ClipLabelParams) -> None:
        check_clip(params.clip)

    @staticmethod
    def score(store, samples, params: ClipLabelParams, device: str = "cpu") -> ScoreBatch:
        from debias_core.models.clip import cached_clip

        if not samples:
            return ScoreBatch("clip-label", {}, {})
        clip = cached_clip(params.clip, device)
        meta = store.meta()
        prompts = [label_prompt(meta, params.prompt, s.y, s.a) for s in samples]
        unique = sorted(set(prompts))
        texts = dict(zip(unique, clip.text_embeddings(unique), strict=True))
        images = clip_image_embeddings(store, clip, [s.id for s in samples])
        values, details = {}, {}
        for k, (sample, prompt) in enumerate(zip(samples, prompts, strict=True)):
            values[sample.id] = float(np.dot(images[k], texts[prompt]))
            details[sample.id] = {"prompt": prompt, "clip": clip.spec, "hash": clip.content_hash}
        return ScoreBatch("clip-label", values, details)
