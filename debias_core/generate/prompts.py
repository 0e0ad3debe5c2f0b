"""Prompt templates per group: vanilla, FFR's own, and contrastive (wordings + negatives).

A group (y, a) is described by a class phrase and a context phrase; how a context is worded
depends on the dataset (a background colour, a place, a person attribute).

FFR (seed 004, and its public generation code) prompts "a photo of {a random kind of the class}
in {a random place of the bias group}", with no negative prompt: the kinds and places below are
the project's own short lists for the datasets it ships; a class or context without a list keeps
its own words (Colored Digits: the embedded model knows only its training captions).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

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

# FFR's prompt parts: kinds of each class and places of each context (by the project's names).
KINDS = {  # bare names, as FFR's code words them ("a photo of {breed} in {place}")
    "landbird": ("sparrow", "robin", "woodpecker", "warbler", "finch", "crow", "blue jay"),
    "waterbird": ("seagull", "duck", "pelican", "cormorant", "tern", "loon", "grebe"),
    "dog": ("labrador", "beagle", "poodle", "terrier", "bulldog", "sheepdog"),
    "cat": ("tabby cat", "siamese cat", "persian cat", "black cat", "ginger cat"),
}
PLACES = {
    "land": (
        "a forest",
        "a meadow",
        "a grass field",
        "a desert",
        "a bamboo grove",
        "the mountains",
    ),
    "water": ("a lake", "the ocean", "a river", "a pond", "a marsh", "a harbour"),
    "outdoor": ("a garden", "a park", "a backyard", "a field", "the street", "a forest"),
    "indoor": ("a living room", "a bedroom", "a kitchen", "an armchair", "a bed", "a hallway"),
}


@dataclass(frozen=True)
class GroupText:
    """The words for one group, the varying part of the other contexts (for negatives), and the
    prompt wordings the dataset's backbone understands."""

    class_text: str
    context_text: str
    other_contexts: tuple[str, ...]
    wordings: tuple[str, ...] = FFR_VARIANTS
    kinds: tuple[str, ...] = ()  # FFR: kinds of the class (empty: the class text)
    places: tuple[str, ...] = ()  # FFR: places of the context (empty: the context is no place)


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


def varying_context(meta: dict, a: int) -> str:
    """The part of context `a`'s words that differs between contexts ("on a red background")."""
    attrs = meta.get("attr_names", [])
    return _context(meta, attrs[a])[1] if a < len(attrs) else f"context {a}"


def group_text(meta: dict, y: int, a: int) -> GroupText:
    classes, attrs = meta.get("class_names", []), meta.get("attr_names", [])
    class_text = classes[y] if y < len(classes) else f"class {y}"
    contexts = [_context(meta, name) for name in attrs] or [(f"context {a}", f"context {a}")]
    if a >= len(contexts):
        raise ValueError(f"attribute {a} is not one of the project's {len(contexts)} contexts")
    others = tuple(varying for k, (_, varying) in enumerate(contexts) if k != a)
    digits = meta.get("dataset") == "colored-digits"
    attr = attrs[a].lower() if a < len(attrs) else ""
    return GroupText(
        class_text,
        contexts[a][0],
        others,
        DIGITS_WORDINGS if digits else FFR_VARIANTS,
        kinds=KINDS.get(class_text.lower(), ()),
        places=() if digits else PLACES.get(attr, ()),
    )


# A template turns (group words, variant index) into (prompt, negative prompt).
TEMPLATES: Registry = Registry("prompt template")


@TEMPLATES.register("vanilla")
def vanilla(text: GroupText, variant: int) -> tuple[str, str]:
    """One prompt naming class and context; plain classifier-free guidance."""
    return f"a photo of {text.class_text}, {text.context_text}", ""


@TEMPLATES.register("ffr")
def ffr(text: GroupText, variant: int) -> tuple[str, str]:
    """FFR's prompts: "a photo of {kind} in {place}", both drawn at random (seeded by the image
    index and the group's words), no negative prompt."""
    rng = np.random.default_rng(
        [variant, zlib.crc32(f"{text.class_text}|{text.context_text}".encode())]
    )
    kind = text.kinds[rng.integers(len(text.kinds))] if text.kinds else text.class_text
    if text.places:
        return f"a photo of {kind} in {text.places[rng.integers(len(text.places))]}", ""
    return text.wordings[0].format(cls=kind, ctx=text.context_text), ""


@TEMPLATES.register("contrastive")
def contrastive(text: GroupText, variant: int) -> tuple[str, str]:
    """Not a paper's: varied wordings for diversity, and the class's other contexts as negatives.

    Naming the contexts to avoid counters the pull of the class's usual context, which vanilla
    prompts suffer from ("a waterbird on land" drawn on water). This was the `ffr` generator's
    template before it followed FFR; it stays as `contrastive`.
    """
    wording = text.wordings[variant % len(text.wordings)]
    negative = ", ".join(text.other_contexts[:3])
    return wording.format(cls=text.class_text, ctx=text.context_text), negative
