"""Before a job is queued: does the method's assumption about where the spurious attribute lies
hold for this project's data?

A method declares where the attribute it keeps or changes must lie (`Generator.attribute_site`:
outside the object's mask, on it, or anywhere); a dataset declares where its spurious attribute
lies (`data/sites.py`: background or object). A mismatch would store images in a group they do
not show, so it is handled (the method puts the intended context into its prompt) or refused
with a message naming why.
"""

from __future__ import annotations

from dataclasses import field

from debias_core.data.sites import UNKNOWN, describe, spurious_site
from debias_core.generate.base import GENERATORS, GenerateConfig, attribute_site

# (method's site, dataset's site) pairs that cannot give an image of the recorded group
CLASHES = {("outside", "object"), ("on", "background")}


# A generator measured below 90% in the recorded group where the attribute lies on the object
# refuses there unless a person opts in (DiffInject, Clustered DreamBooth).
ON_OBJECT = ("refuse", "allow")


def on_object_option():
    """The `on_object` field of such a generator's params (checked by `check_on_object`)."""
    return field(
        default="refuse",
        metadata={
            "help": "where the attribute lies on the object: refuse (measured below 90% in the "
            "recorded group) or allow",
            "choices": ON_OBJECT,
        },
    )


def check_on_object(value: str) -> None:
    if value not in ON_OBJECT:
        raise ValueError(f"on_object must be one of {list(ON_OBJECT)}")


def handles_on_object(generator, config: GenerateConfig) -> bool:
    """Whether the method, with this job's parameters, names the intended context in its prompt
    when the attribute lies on the object (`Generator.handles_on_object(config)`)."""
    handles = getattr(generator, "handles_on_object", None)
    return bool(handles(config)) if callable(handles) else bool(handles)


def on_object_refusal(generator, config: GenerateConfig) -> str:
    """Why the method, with this job's parameters, is refused where the attribute lies on the
    object though its site fits ('' when it is not): a measured shortfall (bench/RESULTS.md,
    "Recorded group") rather than an assumption (`Generator.on_object_refusal(config)`)."""
    refuse = getattr(generator, "on_object_refusal", None)
    return refuse(config) if callable(refuse) else ""


def on_object(store) -> bool:
    """Whether the project's spurious attribute lies on the object (methods adapt prompts)."""
    return spurious_site(store.meta()) == "object"


def site_plan(store, config: GenerateConfig) -> str:
    """'fits', 'handled' (the method adapts its prompts) or 'unknown' (the dataset does not
    say); raises ValueError naming the clash when the method cannot make the recorded group."""
    generator = GENERATORS.get(config.method)
    needs, meta = attribute_site(generator), store.meta()
    lies = spurious_site(meta)
    why = on_object_refusal(generator, config) if lies == "object" else ""
    if why:
        raise ValueError(
            f"{config.method}: in this project {describe(meta)} lies on the object itself, and "
            f"{why}. Or use txt2img or ffr, which draw the whole image from the group's prompt"
        )
    if lies == UNKNOWN or needs == "anywhere":
        return "unknown" if lies == UNKNOWN else "fits"
    if (needs, lies) not in CLASHES:
        return "fits"
    if lies == "object" and handles_on_object(generator, config):
        return "handled"
    where = "outside the object's mask" if needs == "outside" else "on the object"
    hint = getattr(generator, "on_object_hint", "")
    hint = f" {hint}" if hint and lies == "object" else ""
    lies_words = "on the object itself" if lies == "object" else "on the background"
    raise ValueError(
        f"{config.method} keeps or changes the context {where}, but in this project "
        f"{describe(meta)} lies {lies_words}: its images would be stored in groups they do not "
        f"show.{hint} Or use txt2img or ffr, which draw the whole image from the group's prompt "
        "(or set the dataset option spurious_site if the project's table is wrong)"
    )
