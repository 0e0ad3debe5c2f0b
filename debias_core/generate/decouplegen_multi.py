"""`decouplegen-multi` (seed 000 section 4.1.2, Table 2, Figure 6): DecoupleGen's edits on
multi-label data, where a biased object b usually appears with a context c (skis with person).

1. Pairs: the project's biased (b, c) pairs (the top `top_k` measured by bias score, else the
   dataset's designed ones), or the pairs named in `pairs`. Sources: real train images that
   carry both b and c, `sources` per pair.
2. Personalization (`per-image`, parts=labels): per source a token per label it carries among
   b and c, each owning that label's mask, and a background token [v_bg] owning everything else.
3. Edits, with the source's tokens and LoRA attached for the scope:
   - removal: "a photo of {b} at [v_bg]" (b without c, in the source's own surroundings);
   - replacement: "a photo of {b} and {d} at [v_bg]", d drawn per image from c's semantic
     siblings (generate/siblings.py: COCO's supercategory, else the project's table).
   The image records the labels it was drawn to show ({b}, or {b, d}), so co-occurrence
   statistics of the augmented set (`cooccurrence`) count it.
4. Verification (policy `label-presence`): b must be found and c must not; only accepted images
   count, as in the paper.

`--per-group N` = N images per source of each pair.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

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
from debias_core.generate.decouplegen import check_personalization, draw
from debias_core.generate.siblings import siblings_of
from debias_core.params import bounded
from debias_core.store import SampleFilter
from debias_core.store.records import GeneratedImage, Recipe

EDITS = ("removal", "replacement")
PLACEHOLDERS = {"removal": ("b", "bg"), "replacement": ("b", "d", "bg")}
HINT = (
    "leave personalization=0 to train one inside the generation, or run `python -m debias_core "
    "personalize DIR --method per-image --param parts=labels --samples ID,...` and pass "
    "--param personalization=JOB"
)


@dataclass(frozen=True)
class DecoupleGenMultiParams:
    edit: str = field(
        default="removal", metadata={"help": "removal (b without c) or replacement (c -> d)"}
    )
    pairs: str = field(
        default="",
        metadata={"help": "b:c pairs of label names, comma-separated ('' = the biased pairs)"},
    )
    top_k: int = bounded(20, limit="groups", help="biased pairs used (highest bias score)")
    sources: int = bounded(4, limit="per_group", help="source images (with b and c) per pair")
    personalization: int = field(
        default=0, metadata={"help": "a finished per-image (parts=labels) job; 0 = run one"}
    )
    removal_prompt: str = "a photo of {b} at {bg}"
    replacement_prompt: str = "a photo of {b} and {d} at {bg}"
    lora: bool = field(default=True, metadata={"help": "attach the source's LoRA too"})
    personalize_steps: int = bounded(
        200, limit="steps", help="steps per phase of the personalization it runs"
    )
    personalize_params: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "per-image parameters of that personalization"}
    )

    def check_inputs(self) -> None:
        if self.edit not in EDITS:
            raise ValueError(f"edit must be one of {EDITS}, got {self.edit!r}")
        for pair in filter(None, (p.strip() for p in self.pairs.split(","))):
            b, sep, c = pair.partition(":")
            if not sep or not b.strip() or not c.strip():
                raise ValueError(f"pairs: write b:c with label names, got {pair!r}")
        if self.top_k < 1 or self.sources < 1 or self.personalize_steps < 1:
            raise ValueError("top_k, sources and personalize_steps must be >= 1")
        if self.personalization < 0:
            raise ValueError("personalization must be a job id (or 0 to run one)")
        check_prompt("removal", self.removal_prompt)
        check_prompt("replacement", self.replacement_prompt)


def check_prompt(edit: str, template: str) -> None:
    """The edit's template names exactly its placeholders (removal must not name d)."""
    names = PLACEHOLDERS[edit]
    try:
        template.format(**{k: "" for k in names})
    except (KeyError, IndexError, ValueError):
        raise ValueError(f"{edit}_prompt may use only {{{'} {'.join(names)}}}") from None
    missing = [k for k in names if "{" + k + "}" not in template]
    if missing:
        raise ValueError(f"{edit}_prompt must contain {{{'} {'.join(missing)}}}")


@dataclass(frozen=True)
class Target:
    """One source image of a biased pair, and the siblings its replacement may use."""

    source: int
    y: int
    a: int
    b: int
    c: int
    siblings: tuple[int, ...] = ()


def chosen_pairs(store, params: DecoupleGenMultiParams) -> list[tuple[int, int]]:
    """(b, c) label ids: the named pairs, or the top_k stored biased pairs."""
    names = store.label_name_map()
    if not names:
        raise ValueError("decouplegen-multi needs a multi-label project (no label names here)")
    ids = {v: k for k, v in names.items()}
    if not params.pairs.strip():
        pairs = [(p.b, p.c) for p in store.pairs_for_study()[: params.top_k]]
        if not pairs:
            raise ValueError(
                "decouplegen-multi: no biased pairs measured or designed; name them: pairs=b:c"
            )
        return pairs
    out = []
    for pair in filter(None, (p.strip() for p in params.pairs.split(","))):
        b, _, c = (v.strip() for v in pair.partition(":"))
        unknown = [n for n in (b, c) if n not in ids]
        if unknown:
            raise ValueError(f"decouplegen-multi: unknown label(s) {unknown}")
        out.append((ids[b], ids[c]))
    return out


def targets(store, config: GenerateConfig, params: DecoupleGenMultiParams) -> list[Target]:
    """Per pair, up to `sources` seeded real train images carrying both b and c."""
    names = store.label_name_map()
    ids = {v: k for k, v in names.items()}
    train = store.sample_ids(SampleFilter(source="real", split="train"))
    labels = store.label_sets(train)
    out = []
    for b, c in chosen_pairs(store, params):
        both = sorted(s for s, ls in labels.items() if {b, c} <= ls)
        siblings = tuple(ids[n] for n in siblings_of(store, names[c]) if ids.get(n) != b)
        if params.edit == "replacement" and not siblings:
            raise ValueError(
                f"decouplegen-multi: {names[c]!r} has no semantic siblings to replace it with; "
                "add some to the project's siblings.json (`python -m debias_core siblings DIR "
                f"--set '{names[c]}=A,B'`)"
            )
        rng = np.random.default_rng([int(config.seed), b, c])
        chosen = both if len(both) <= params.sources else rng.choice(both, params.sources, False)
        for sample in store.list_samples(SampleFilter(ids=sorted(int(s) for s in chosen))):
            out.append(Target(sample.id, sample.y, sample.a, b, c, siblings))
    if not out:
        raise ValueError("decouplegen-multi: no real train image carries both labels of a pair")
    return out


def background_token(store, job_id: int, source: int):
    """The source's [v_bg] artifact (with its LoRA when asked), files verified."""
    found = store.list_artifacts(job_id=job_id, concept=f"image-{source}")
    tokens = [a for a in found if a.kind == "token" and a.meta.get("role") == "background"]
    if not tokens:
        raise ValueError(
            f"decouplegen-multi: personalize job {job_id} learned no background token for "
            f"sample {source}; {HINT}"
        )
    return tokens[0]


def source_artifacts(store, job_id: int, source: int, with_lora: bool) -> list:
    found = store.list_artifacts(job_id=job_id, concept=f"image-{source}")
    chosen = [background_token(store, job_id, source)]
    if with_lora:
        loras = [a for a in found if a.kind == "lora"]
        if not loras:
            raise ValueError(f"decouplegen-multi: job {job_id} has no LoRA of sample {source}")
        chosen.append(loras[0])
    return [store.verified_artifact(a.id) for a in chosen]


def edit_prompt(params: DecoupleGenMultiParams, b: str, bg: str, d: str = "") -> str:
    if params.edit == "removal":
        return params.removal_prompt.format(b=b, bg=bg)
    return params.replacement_prompt.format(b=b, d=d, bg=bg)


def image_seed(seed: int, source: int, b: int, c: int, k: int) -> int:
    return int(np.random.SeedSequence([seed, source, b, c, k]).generate_state(1)[0])


def sibling_for(target: Target, seed: int) -> int:
    """The sibling d of image `seed`: a seeded uniform draw, stable across batching."""
    return target.siblings[int(np.random.default_rng(seed).integers(len(target.siblings)))]


class TargetBatches(LazyUnits):
    """N images per target in batches of at most `batch_size`, one target per unit (its LoRA
    applies to the whole batch)."""

    def __init__(self, items: list[Target], per_target: int, batch_size: int, make) -> None:
        self.items, self.n, self.batch_size, self.make = items, per_target, batch_size, make
        self.per_item = -(-per_target // batch_size)

    def __len__(self) -> int:
        return len(self.items) * self.per_item

    def unit(self, index: int) -> WorkUnit:
        which, batch = divmod(index, self.per_item)
        start = batch * self.batch_size
        return self.make(self.items[which], range(start, min(start + self.batch_size, self.n)))


class DecoupleGenMulti:
    default_params = DecoupleGenMultiParams()
    default_steps = 20
    attribute_site = "anywhere"  # labels, not a (class, context) group, say what an image shows
    plans_own_targets = True  # the biased pairs choose the sources
    multilabel = True  # draws label sets: refused on a single-label project, before queuing

    def check(self, store, config: GenerateConfig) -> None:
        params = method_params(self, config)
        if config.params.get("artifacts"):
            raise ValueError("decouplegen-multi attaches each source's own files; not artifacts")
        items = targets(store, config, params)
        if params.personalization:
            check_personalization(store, params.personalization)
            for target in items:
                source_artifacts(store, params.personalization, target.source, params.lora)

    def prerequisites(self, store, config: GenerateConfig) -> list[Prerequisite]:
        params = method_params(self, config)
        if params.personalization:
            return []
        items = targets(store, config, params)
        names = store.label_name_map()
        labels = sorted({names[t.b] for t in items} | {names[t.c] for t in items})
        job = {
            "method": "per-image",
            "backbone": config.backbone,
            "samples": sorted({t.source for t in items}),
            "steps": params.personalize_steps,
            "params": {"parts": "labels", "labels": ",".join(labels)}
            | dict(params.personalize_params),
        }
        return [Prerequisite("personalize", job, "personalization")]

    def plan(self, store, config: GenerateConfig, groups) -> TargetBatches:
        params = method_params(self, config)
        items, names = targets(store, config, params), store.label_name_map()
        attrs = list(store.attr_names)
        bg = {t.source: background_token(store, params.personalization, t.source).name
              for t in items}  # fmt: skip

        def unit(target: Target, js: range) -> WorkUnit:
            seeds = [image_seed(config.seed, target.source, target.b, target.c, k) for k in js]
            ds = [sibling_for(target, s) if params.edit == "replacement" else None for s in seeds]
            prompts = [
                edit_prompt(params, names[target.b], bg[target.source], names.get(d, ""))
                for d in ds
            ]
            contexts = [attrs.index(names[d]) if d is not None and names[d] in attrs
                        else target.a for d in ds]  # fmt: skip
            return WorkUnit(
                key=f"dgm-s{target.source}-b{target.b}-c{target.c}-{js.start}",
                y=target.y,
                a=None,
                seeds=tuple(seeds),
                prompts=tuple(prompts),
                negatives=("",) * len(seeds),
                parent_ids=(target.source,) * len(seeds),
                extra={
                    "contexts": tuple(contexts),
                    "labels": tuple((target.b,) if d is None else (target.b, d) for d in ds),
                    "pair": (target.b, target.c),
                    "siblings": tuple(ds),
                },
            )

        return TargetBatches(items, config.per_group, config.batch_size, unit)

    def render(self, backbone, unit: WorkUnit, config: GenerateConfig, store):
        from debias_core.generate.runner import personalization

        params, steps = method_params(self, config), steps_of(self, config)
        source = unit.parent_ids[0]
        artifacts = source_artifacts(store, params.personalization, source, params.lora)
        with personalization(store, backbone, artifacts):
            images = draw(backbone, unit.prompts, unit.seeds, steps, config.guidance)
        batch = {"prompts": list(unit.prompts), "seeds": list(unit.seeds)}
        b, c = unit.extra["pair"]
        return [
            GeneratedImage(
                image,
                unit.y,
                unit.extra["contexts"][i],
                recipe_for(
                    backbone,
                    "decouplegen-multi",
                    steps,
                    config.guidance,
                    seed=unit.seeds[i],
                    prompt=unit.prompts[i],
                    source_ids=(source,),
                    tokens={"artifacts": [a.ref() for a in artifacts if a.kind == "token"]},
                    adapters={"artifacts": [a.ref() for a in artifacts if a.kind == "lora"]},
                    params={"method": asdict(params), "batch": batch, "index": i},
                ),
                parent_id=source,
                meta={"edit": params.edit, "pair": [b, c], "sibling": unit.extra["siblings"][i]},
                labels=unit.extra["labels"][i],
            )
            for i, image in enumerate(images)
        ]

    def replay(self, backbone, recipe: Recipe, store) -> np.ndarray:
        """The recipe's artifacts are attached by `recipes.regenerate` around this call."""
        batch = recipe.params["batch"]
        images = draw(backbone, batch["prompts"], batch["seeds"], recipe.steps, recipe.guidance)
        return images[recipe.params["index"]]


GENERATORS.register("decouplegen-multi")(DecoupleGenMulti())
