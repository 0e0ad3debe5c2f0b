"""Prompt templates per group: vanilla ("a photo of {class} {context}") and FFR-style variants.

A group (y, a) is described by a class phrase and a context phrase; how a context is worded
depends on the dataset (a background colour, a place, a person attribute).
"""

from __future__ import annotations

from dataclasses import dataclass

from debias_core.registry import Registry


@dataclass(frozen=True)
class GroupText:
    """The words for one group and for the other contexts of its class (for negatives)."""

    class_text: str
    context_text: str
    other_contexts: tuple[str, ...]


def _digits_context(meta: dict, colour: str) -> str:
    if meta.get("dataset_params", {}).get("spurious") == "stroke":
        return f"{colour} stroke, on a black background"
    return f"white stroke, on a {colour} background"


def _context(meta: dict, attr: str) -> str:
    dataset = meta.get("dataset")
    if dataset == "colored-digits":
        return _digits_context(meta, attr)
    if dataset == "waterbirds":
        return f"on {attr}"
    return attr


def group_text(meta: dict, y: int, a: int) -> GroupText:
    classes, attrs = meta.get("class_names", []), meta.get("attr_names", [])
    class_text = classes[y] if y < len(classes) else f"class {y}"
    contexts = [_context(meta, name) for name in attrs] or [f"context {a}"]
    if a >= len(contexts):
        raise ValueError(f"attribute {a} is not one of the project's {len(contexts)} contexts")
    others = tuple(c for k, c in enumerate(contexts) if k != a)
    return GroupText(class_text, contexts[a], others)


# A template turns (group words, variant index) into (prompt, negative prompt).
TEMPLATES: Registry = Registry("prompt template")


@TEMPLATES.register("vanilla")
def vanilla(text: GroupText, variant: int) -> tuple[str, str]:
    """One prompt naming class and context; plain classifier-free guidance."""
    return f"a photo of {text.class_text}, {text.context_text}", ""


FFR_VARIANTS = (
    "a photo of {cls}, {ctx}",
    "a picture of {cls}, {ctx}",
    "{cls}, {ctx}",
    "an image of {cls}, {ctx}",
)


@TEMPLATES.register("ffr")
def ffr(text: GroupText, variant: int) -> tuple[str, str]:
    """FFR-style: varied wordings for diversity, and the class's other contexts as negatives.

    Naming the contexts to avoid counters the pull of the class's usual context, which vanilla
    prompts suffer from ("a waterbird on land" drawn on water).
    """
    wording = FFR_VARIANTS[variant % len(FFR_VARIANTS)]
    negative = ", ".join(text.other_contexts[:3])
    return wording.format(cls=text.class_text, ctx=text.context_text), negative
