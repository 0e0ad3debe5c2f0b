"""`decouplegen` (seed 000, the single-object classification variant the paper runs on NICO):
each source image's learned object token drawn in every other context.

1. Sources: real train images with the class's common context (by default N per class from its
   bias-aligned, majority group), or ids / a tag / a saved view the user chose.
2. Personalization (`personalize --method per-image`, Section 3.2 after Break-A-Scene): per source
   an object token [V_obj] and a context token, then a LoRA, trained on the masked diffusion loss
   plus the cross-attention loss. `personalization=0` runs (or reuses) that job for the sources
   inside the generation job; `personalization=ID` uses a finished job of the user.
3. Generation: with the source's object token and LoRA attached for the scope, the prompt says the
   new context in words ("a photo of [V_obj] in context-name": the learned [V_context] is replaced
   by text). Label = the source's class, context = the new one, parent = the source.
4. Verification keeps images whose object is still the source's class and whose context is the
   new one: on Colored Digits the `judge` policy (digit and colour read by the digit judge, its
   default `context=recorded` check). On real data the `segmentation` policy checks the class
   only: no scorer reads a real image's context yet. Failures are rejected by policy, never
   deleted.

`--per-group N` means N images for each target the method plans, a (source, new context) pair:
group (y, c) then receives N x (number of class-y sources) images.

Prompt wording on the embedded model: its small text encoder reads colour words by position
(bench/RESULTS.md, Personalization), so by default the object token takes the class word's place
in the dataset's own caption ("a photo of <o-12> 3, white stroke, on a green background" where
the captions say "a photo of digit 3, ..."); elsewhere the paper's form "a photo of <o-12>, on
water". `--param prompt=...` sets any template over {object} {class} {context} {context_name}.

Where the spurious attribute lies (generate/sites.py): the paper changes the context around an
object whose token keeps it, which assumes the context is the background. When it lies on the
object (a stroke colour, hair colour), the object token and LoRA learned the source's context as
part of the object, and naming the new one in the prompt does not override them (on the stroke
variant 25% of the images showed the named colour, with or without the LoRA, 8% at guidance 7.5;
bench/RESULTS.md, "Recorded group"): the method is refused there before queuing.

Batches: units run through all sources' images in order and one batch mixes sources, each row
with its own object token (the loop's per-sample prompt embeddings) and its own LoRA (per-sample
adapters, `generate/adapters.py`: one forward pass for the batch). With
`per_sample_adapters=false` and the LoRA on, a unit is one source's images (its contexts x N, in
batches) with that LoRA attached for the whole batch, as before; `lora=false` attaches tokens
only.
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from debias_core.generate import loop
from debias_core.generate.adapters import (
    ROWS_KEY,
    WEIGHTS_KEY,
    per_sample_personalization,
    row_loras,
)
from debias_core.generate.base import (
    GENERATORS,
    GenerateConfig,
    LazyUnits,
    Prerequisite,
    WorkUnit,
    method_params,
    recipe_for,
    steps_of,
)
from debias_core.generate.prompts import group_text, varying_context
from debias_core.params import bounded
from debias_core.store import SampleFilter
from debias_core.store.records import GeneratedImage, Recipe

SOURCE_FORMS = ("majority:N", "ids:1,2,...", "tag:NAME", "view:NAME", "personalized")
PERSONALIZE_HINT = (
    "leave personalization=0 to train one inside the generation, or run "
    "`python -m debias_core personalize DIR --method per-image --samples ID,ID,...` "
    "and pass --param personalization=JOB"
)
PLACEHOLDERS = ("object", "class", "context", "context_name")
NEGATIVES = ("none", "source")


@dataclass(frozen=True)
class DecoupleGenParams:
    sources: str = field(
        default="majority:2",
        metadata={
            "help": "source images: majority:N (N per class from its bias-aligned group), "
            "ids:1,2,..., tag:NAME, view:NAME, or personalized (the images the given "
            "personalization learned)"
        },
    )
    personalization: int = field(
        default=0,
        metadata={"help": "a finished per-image personalize job; 0 = run or reuse one"},
    )
    contexts: str = field(
        default="", metadata={"help": "new contexts, comma-separated names ('' = every other)"}
    )
    prompt: str = field(
        default="",
        metadata={
            "help": "template over {object} {class} {context} {context_name}; '' = the "
            "dataset's caption with the object token in the class word's place"
        },
    )
    lora: bool = field(
        default=True,
        metadata={"help": "attach the source's LoRA too (false: tokens only, sources mixed)"},
    )
    per_sample_adapters: bool = field(
        default=True,
        metadata={
            "help": "one batch mixes sources, each image with its own LoRA "
            "(false: one source's LoRA per batch)"
        },
    )
    negative: str = field(
        default="none",
        metadata={
            "help": "negative prompt: none, or source (the source's own context in words, "
            "which its token and LoRA learned along with the object)",
            "choices": NEGATIVES,
        },
    )
    # 0.5 on the demo (generator sweep, bench/RESULTS.md): at 1 the LoRA paints the source's
    # background around the object; the paper attaches it as trained (1, the default on SD).
    lora_scale: float = bounded(
        0.5,
        0.0,
        1.0,
        help="weight of each source's LoRA while drawing (1: as trained; lower lets the "
        "prompt's context override the source's, which the LoRA learned too)",
        paper=1.0,
    )
    personalize_steps: int = bounded(
        200, limit="steps", help="steps per phase of the personalization it runs"
    )
    personalize_params: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "per-image parameters of that personalization"}
    )

    def check_inputs(self) -> None:
        kind, _, value = self.sources.partition(":")
        if self.sources == "personalized":
            if not self.personalization:
                raise ValueError("sources=personalized needs personalization=JOB")
        elif kind not in ("majority", "ids", "tag", "view") or not value.strip():
            raise ValueError(f"sources must be one of {list(SOURCE_FORMS)}, got {self.sources!r}")
        if kind == "majority" and not (value.isdigit() and int(value) >= 1):
            raise ValueError(f"sources majority:N needs a whole N >= 1, got {value!r}")
        if kind == "ids" and not all(v.strip().isdigit() for v in value.split(",")):
            raise ValueError(f"sources ids: needs sample ids like ids:4,17, got {value!r}")
        if self.personalization < 0:
            raise ValueError("personalization must be a job id (or 0 to run one)")
        if self.negative not in NEGATIVES:
            raise ValueError(f"negative must be one of {list(NEGATIVES)}, got {self.negative!r}")
        if self.personalize_steps < 1:
            raise ValueError("personalize_steps must be >= 1")
        if self.prompt:
            if "{object}" not in self.prompt:
                raise ValueError("prompt must contain {object} (the learned object token)")
            try:
                self.prompt.format(**{k: "" for k in PLACEHOLDERS})
            except (KeyError, IndexError, ValueError):
                raise ValueError(f"prompt may use only {list(PLACEHOLDERS)}") from None


# -- sources and contexts ------------------------------------------------------------------------
def _seeded_subset(ids: list[int], n: int, seed: int, y: int) -> list[int]:
    if n >= len(ids):
        return sorted(ids)
    rng = np.random.default_rng([int(seed), int(y)])
    return sorted(int(i) for i in rng.choice(ids, size=n, replace=False))


def choose_sources(store, params: DecoupleGenParams, seed: int) -> list[int]:
    """The source sample ids (real samples), in id order; ValueError when there are none."""
    kind, _, value = params.sources.partition(":")
    if kind == "personalized":
        ids = personalized_samples(store, params.personalization)
    elif kind == "majority":
        train = {"source": "real", "split": "train"}
        ids = []
        for y, a in sorted(store.aligned_attrs().items()):
            group = store.sample_ids(SampleFilter(y=y, a=a, **train))
            ids += _seeded_subset(group, int(value), seed, y)
    elif kind == "ids":
        ids = [int(v) for v in value.split(",")]
        known = set(store.sample_ids(SampleFilter(ids=ids, source="real")))
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise ValueError(f"decouplegen: sources {unknown[:10]} are not real samples here")
    elif kind == "tag":
        ids = store.sample_ids(SampleFilter(tag=value, source="real"))
    else:
        try:
            view = store.get_view(value)
        except KeyError:
            raise ValueError(f"decouplegen: there is no saved view {value!r}") from None
        chosen = set(store.view_ids(view))
        ids = [i for i in store.sample_ids(SampleFilter(source="real")) if i in chosen]
    if not ids:
        raise ValueError(f"decouplegen: sources {params.sources!r} select no real samples")
    return sorted(set(ids))


def personalized_samples(store, job_id: int) -> list[int]:
    """The images a per-image personalization job learned an object token for."""
    tokens = store.list_artifacts(job_id=job_id, kind="token")
    return [a.sample_ids[0] for a in tokens if a.meta.get("role") == "object" and a.sample_ids]


def context_indices(store, params: DecoupleGenParams) -> list[int]:
    """The contexts images may be drawn in (indices into the project's context names)."""
    names = list(store.attr_names)
    if not params.contexts.strip():
        return list(range(len(names)))
    wanted = [c.strip() for c in params.contexts.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in names]
    if unknown:
        raise ValueError(f"decouplegen: unknown context(s) {unknown}; this project has {names}")
    return sorted({names.index(c) for c in wanted})


@dataclass(frozen=True)
class Target:
    """One source and the new contexts it is drawn in."""

    source: int
    y: int
    a: int
    contexts: tuple[int, ...]


def targets(store, config: GenerateConfig, params: DecoupleGenParams) -> list[Target]:
    """Sources with their new contexts; `config.groups` (if any) keeps only those groups."""
    allowed = context_indices(store, params)
    wanted = set(config.groups)
    out = []
    for sample in store.list_samples(SampleFilter(ids=choose_sources(store, params, config.seed))):
        contexts = tuple(
            c for c in allowed if c != sample.a and (not wanted or (sample.y, c) in wanted)
        )
        if contexts:
            out.append(Target(sample.id, sample.y, sample.a, contexts))
    if not out:
        raise ValueError("decouplegen: no source has a new context to be drawn in")
    return out


# -- prompts -------------------------------------------------------------------------------------
def object_prompt(meta: dict, y: int, a: int, token: str, template: str = "") -> str:
    """The prompt for a source's object token in context `a` (see the module docstring)."""
    text = group_text(meta, y, a)
    names = meta.get("attr_names", [])
    values = {
        "object": token,
        "class": text.class_text,
        "context": text.context_text,
        "context_name": names[a] if a < len(names) else f"context {a}",
    }
    if template:
        return template.format(**values)
    if meta.get("dataset") == "colored-digits":  # "digit 3": the token replaces "digit"
        values["object"] = f"{token} {text.class_text.split()[-1]}"
    return "a photo of {object}, {context}".format(**values)


def image_seed(seed: int, source: int, a: int, k: int) -> int:
    """Depends only on (job seed, source, context, index): stable across batching."""
    return int(np.random.SeedSequence([seed, source, a, k]).generate_state(1)[0])


# -- the plan: N images per (source, context) in batches, built lazily --------------------------
class SourceBatches(LazyUnits):
    """The units of "N images per (source, context)".

    Each target (source) has len(contexts) x N images. `mixed=False`: a unit holds one source's
    images only (its LoRA applies to the whole batch); `mixed=True`: units run through all
    targets' images in order and may span sources (tokens only: each row names its own token).
    `make` gets the unit's index and its pieces [(target, range of the target's images)].
    `len()` is arithmetic and units are made when indexed, so a huge N costs nothing to plan.
    """

    def __init__(
        self, items: list[Target], per_target: int, batch_size: int, make, mixed: bool = False
    ) -> None:
        self.items, self.batch_size, self.make, self.mixed = items, batch_size, make, mixed
        self.sizes = [len(t.contexts) * per_target for t in items]
        self.image_starts = [int(v) for v in np.cumsum([0, *self.sizes])]
        counts = [-(-n // batch_size) for n in self.sizes]
        self.unit_starts = [int(v) for v in np.cumsum([0, *counts])]

    def __len__(self) -> int:
        if self.mixed:
            return -(-self.image_starts[-1] // self.batch_size)
        return self.unit_starts[-1]

    def unit(self, index: int) -> WorkUnit:
        return self.make(index, self._mixed_pieces(index) if self.mixed else self._piece(index))

    def _piece(self, index: int) -> list[tuple[Target, range]]:
        which = bisect.bisect_right(self.unit_starts, index) - 1
        start = (index - self.unit_starts[which]) * self.batch_size
        stop = min(start + self.batch_size, self.sizes[which])
        return [(self.items[which], range(start, stop))]

    def _mixed_pieces(self, index: int) -> list[tuple[Target, range]]:
        first = index * self.batch_size
        last = min(first + self.batch_size, self.image_starts[-1])
        pieces, at = [], first
        while at < last:
            which = bisect.bisect_right(self.image_starts, at) - 1
            offset = at - self.image_starts[which]
            stop = min(self.sizes[which], offset + last - at)
            pieces.append((self.items[which], range(offset, stop)))
            at += stop - offset
        return pieces

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


# -- artifacts of one source ---------------------------------------------------------------------
def source_artifacts(store, job_id: int, source: int, with_lora: bool) -> list:
    """The object token (and LoRA) the per-image job learned for `source`, files verified."""
    found = store.list_artifacts(job_id=job_id, concept=f"image-{source}")
    tokens = [a for a in found if a.kind == "token" and a.meta.get("role") == "object"]
    loras = [a for a in found if a.kind == "lora"]
    if not tokens or (with_lora and not loras):
        raise ValueError(
            f"decouplegen: personalize job {job_id} learned no object token"
            f"{' and LoRA' if with_lora else ''} for source sample {source}; pass "
            "--param sources=personalized to draw the images it learned, or "
            f"{PERSONALIZE_HINT}"
        )
    chosen = tokens[:1] + (loras[:1] if with_lora else [])
    return [store.verified_artifact(a.id) for a in chosen]


def check_personalization(store, job_id: int) -> None:
    """A finished per-image personalization job (ValueError saying how to make one)."""
    try:
        job = store.get_job(job_id)
    except KeyError:
        raise ValueError(f"decouplegen: there is no job {job_id}; {PERSONALIZE_HINT}") from None
    if job.kind != "personalize" or job.params.get("method") != "per-image":
        what = (
            job.kind if job.kind != "personalize" else f"personalize ({job.params.get('method')})"
        )
        raise ValueError(
            f"decouplegen: job {job_id} is a {what} job, not per-image personalization; "
            f"{PERSONALIZE_HINT}"
        )
    if job.status != "done":
        raise ValueError(f"decouplegen: personalize job {job_id} is {job.status}, not done")


# -- the method ----------------------------------------------------------------------------------
class DecoupleGen:
    default_params = DecoupleGenParams()
    default_steps = 20
    attribute_site = "outside"  # the object token keeps the object, the prompt changes the rest
    plans_own_targets = False  # a job names the groups it draws

    def check(self, store, config: GenerateConfig) -> None:
        params = method_params(self, config)
        if config.params.get("artifacts"):
            raise ValueError(
                "decouplegen attaches each source's own learned files; params artifacts is not used"
            )
        if params.personalization:
            check_personalization(store, params.personalization)
        items = targets(store, config, params)
        if params.personalization:  # it learned every source's files
            for target in items:
                source_artifacts(store, params.personalization, target.source, params.lora)

    def prerequisites(self, store, config: GenerateConfig) -> list[Prerequisite]:
        params = method_params(self, config)
        if params.personalization:
            return []
        job = {
            "method": "per-image",
            "backbone": config.backbone,
            "samples": [t.source for t in targets(store, config, params)],
            "steps": params.personalize_steps,
            "params": dict(params.personalize_params),
        }
        return [Prerequisite("personalize", job, "personalization")]

    def plan(self, store, config: GenerateConfig, groups) -> SourceBatches:
        params = method_params(self, config)
        items = targets(store, config, params)
        meta, n = store.meta(), config.per_group
        mixed = params.per_sample_adapters or not params.lora
        tokens = {t.source: source_artifacts(store, params.personalization, t.source, False)[0]
                  for t in items}  # fmt: skip

        def rows(target: Target, js: range) -> list[tuple]:
            """(seed, prompt, source, label, context) of the target's images js."""
            out = []
            for j in js:
                c, k = target.contexts[j // n], j % n
                prompt = object_prompt(meta, target.y, c, tokens[target.source].name, params.prompt)
                negative = negative_prompt(meta, target, params)
                seed = image_seed(config.seed, target.source, c, k)
                out.append((seed, prompt, target, c, negative))
            return out

        def unit(index: int, pieces: list[tuple[Target, range]]) -> WorkUnit:
            drawn = [row for target, js in pieces for row in rows(target, js)]
            first, js = pieces[0]
            key = f"decouplegen-mixed-{index}" if mixed else (
                f"decouplegen-s{first.source}-{js.start}"
            )  # fmt: skip
            return WorkUnit(
                key=key,
                y=first.y,
                a=None,
                seeds=tuple(r[0] for r in drawn),
                prompts=tuple(r[1] for r in drawn),
                negatives=tuple(r[4] for r in drawn),
                parent_ids=tuple(r[2].source for r in drawn),
                extra={
                    "labels": tuple(r[2].y for r in drawn),
                    "contexts": tuple(r[3] for r in drawn),
                    "source_contexts": tuple(r[2].a for r in drawn),
                },
            )

        return SourceBatches(items, n, config.batch_size, unit, mixed=mixed)

    def render(self, backbone, unit: WorkUnit, config: GenerateConfig, store):
        from debias_core.generate.runner import personalization

        params, steps = method_params(self, config), steps_of(self, config)
        files = {  # the unit's sources, in order
            source: source_artifacts(store, params.personalization, source, params.lora)
            for source in dict.fromkeys(unit.parent_ids)
        }
        artifacts = [artifact for found in files.values() for artifact in found]
        batch = {"prompts": list(unit.prompts), "seeds": list(unit.seeds)}
        if any(unit.negatives):  # older recipes have none: they replay without
            batch["negatives"] = list(unit.negatives)
        if params.lora and params.per_sample_adapters:  # each row its own source's LoRA
            batch[ROWS_KEY] = row_loras([files[source] for source in unit.parent_ids])
            if params.lora_scale != 1.0:
                batch[WEIGHTS_KEY] = [params.lora_scale] * len(unit.parent_ids)
            attach = per_sample_personalization(
                store, backbone, artifacts, batch[ROWS_KEY], batch.get(WEIGHTS_KEY)
            )
        else:  # one source's LoRA for the whole batch, or tokens only
            attach = personalization(store, backbone, artifacts, params.lora_scale)
        with attach:
            images = draw(
                backbone, unit.prompts, unit.seeds, steps, config.guidance, unit.negatives
            )
        # replay redraws the whole batch, so each recipe names every file the batch used
        tokens = [a.ref() for a in artifacts if a.kind == "token"]
        loras = [a.ref() for a in artifacts if a.kind == "lora"]
        return [
            GeneratedImage(
                image,
                unit.extra["labels"][i],
                unit.extra["contexts"][i],
                recipe_for(
                    backbone,
                    "decouplegen",
                    steps,
                    config.guidance,
                    seed=unit.seeds[i],
                    prompt=unit.prompts[i],
                    negative_prompt=unit.negatives[i],
                    source_ids=(unit.parent_ids[i],),
                    tokens={"artifacts": tokens},
                    adapters=adapter_record(loras, params.lora_scale),
                    params={"method": asdict(params), "batch": batch, "index": i},
                ),
                parent_id=unit.parent_ids[i],
                meta={"source_context": unit.extra["source_contexts"][i]},
            )
            for i, image in enumerate(images)
        ]

    def replay(self, backbone, recipe: Recipe, store) -> np.ndarray:
        """The recipe's artifacts are attached by `recipes.regenerate` around this call."""
        batch = recipe.params["batch"]
        images = draw(
            backbone,
            batch["prompts"],
            batch["seeds"],
            recipe.steps,
            recipe.guidance,
            batch.get("negatives"),
        )
        return images[recipe.params["index"]]


def adapter_record(loras: list, weight: float) -> dict:
    """A recipe's `adapters`: the LoRAs, and the weight `regenerate` attaches them at (if not 1)."""
    return {"artifacts": loras} | ({"weight": weight} if loras and weight != 1.0 else {})


def negative_prompt(meta: dict, target: Target, params: DecoupleGenParams) -> str:
    """The negative prompt of a target's images: "" or its source's own context in words."""
    if params.negative == "source":
        return varying_context(meta, target.a)
    return ""


def draw(backbone, prompts, seeds, steps: int, guidance: float, negatives=None) -> np.ndarray:
    """Images (B, H, W, 3) uint8 from the personalized backbone; classifier-free guidance, with
    negative prompts when any is given."""
    negatives = list(negatives) if negatives is not None and any(negatives) else None
    return loop.sample(backbone, list(prompts), list(seeds), steps, guidance, negatives).images


GENERATORS.register("decouplegen")(DecoupleGen())
