"""Prompt templates per group: vanilla ("a photo of {class} {context}") and FFR-style variants.

A group (y, a) is described by a class phrase and a context phrase; how a context is worded
depends on the dataset (a background colour, a place, a person attribute).
"""

from __future__ import annotations

from dataclasses import dataclass

from debias_core.registry import Registry

FFR_VARIANTS = (
    "a photo of {cls}, {ctx}",
    "a picture of {cls}, {ctx}",
    "{cls}, {ctx}",
    "an image of {cls}, {ctx}",
)
# The embedded model only knows the captions it was trained on ("a photo of digit 3, ..."):
# other wordings are out of its vocabulary and give noise, so its variants are that one form.
DIGITS_WORDINGS = ("a photo of {cls}, {ctx}",)


@dataclass(frozen=True)
class GroupText:
    """The words for one group, the varying part of the other contexts (for negatives), and the
    prompt wordings the dataset's backbone understands."""

    class_text: str
    context_text: str
    other_contexts: tuple[str, ...]
    wordings: tuple[str, ...] = FFR_VARIANTS


def _digits_context(meta: dict, colour: str) -> tuple[str, str]:
    """(full context, the part that varies between contexts) for a Colored Digits colour."""
    if meta.get("dataset_params", {}).get("spurious") == "stroke":
        return f"{colour} stroke, on a black background", f"{colour} stroke"
    return f"white stroke, on a {colour} background", f"on a {colour} background"


def _context(meta: dict, attr: str) -> tuple[str, str]:
    dataset = meta.get("dataset")
    if dataset == "colored-digits":
        return _digits_context(meta, attr)
    if dataset == "waterbirds":
        return f"on {attr}", attr
    return attr, attr


def group_text(meta: dict, y: int, a: int) -> GroupText:
    classes, attrs = meta.get("class_names", []), meta.get("attr_names", [])
    class_text = classes[y] if y < len(classes) else f"class {y}"
    contexts = [_context(meta, name) for name in attrs] or [(f"context {a}", f"context {a}")]
    if a >= len(contexts):
        raise ValueError(f"attribute {a} is not one of the project's {len(contexts)} contexts")
    others = tuple(varying for k, (_, varying) in enumerate(contexts) if k != a)
    digits = meta.get("dataset") == "colored-digits"
    return GroupText(
        class_text, contexts[a][0], others, DIGITS_WORDINGS if digits else FFR_VARIANTS
    )


# A template turns (group words, variant index) into (prompt, negative prompt).
TEMPLATES: Registry = Registry("prompt template")


@TEMPLATES.register("vanilla")
def vanilla(text: GroupText, variant: int) -> tuple[str, str]:
    """One prompt naming class and context; plain classifier-free guidance."""
    return f"a photo of {text.class_text}, {text.context_text}", ""


@TEMPLATES.register("ffr")
def ffr(text: GroupText, variant: int) -> tuple[str, str]:
    """FFR-style: varied wordings for diversity, and the class's other contexts as negatives.

    Naming the contexts to avoid counters the pull of the class's usual context, which vanilla
    prompts suffer from ("a waterbird on land" drawn on water).
    """
    wording = text.wordings[variant % len(text.wordings)]
    negative = ", ".join(text.other_contexts[:3])
    return wording.format(cls=text.class_text, ctx=text.context_text), negative
