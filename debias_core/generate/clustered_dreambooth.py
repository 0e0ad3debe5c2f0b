"""`clustered-dreambooth` (seed 002, Section 3.2-3.3 and A.5): M images per group, drawn uniformly
over that group's pool of cluster LoRAs (one identifier token + LoRA per k-means cluster, trained
by the `cluster-lora` personalization).

1. The pool: a finished `cluster-lora` personalize job (`personalization=ID`), or, with 0, one
   run or reused for the groups this generation needs (the Prerequisite seam).
2. Image i of group g takes cluster order[i mod k], `order` a permutation of g's k clusters seeded
   by (job seed, g): every cluster draws M / k images (M_cl x k = M in the paper), and which
   clusters draw one more is random. The assignment is recorded in each recipe.
3. A group too small to cluster (fewer than `min_group` real train images; the minority groups of
   a strongly biased dataset) borrows the pool of its class's largest group and is prompted
   without the identifier token, naming its own context (Section A.5: "removing the learnt [V]
   token ... leads to more accurate depiction of the target group"). `borrow=false` refuses them.
   On the demo the donor's LoRA is attached at `borrowed_lora_scale` = 0.5, so the named
   context wins over the donor's (generator sweep, bench/RESULTS.md); 1 on SD, as the paper.
4. A work unit is a batch of one cluster's images: its LoRA (and token) attach for the scope of
   that render only; recipes name them by id and content hash, so `regenerate` reattaches them
   and replays bit-exactly, and refuses when one is missing or changed.

Filter the result with `verify --policy clip-top-m` (Eq. 1) and train with `--method ffr-llr`.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field

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
from debias_core.generate.prompts import group_text, varying_context
from debias_core.generate.txt2img import image_seed, run_pipeline
from debias_core.limits import MAX_RANK
from debias_core.params import bounded
from debias_core.store import SampleFilter
from debias_core.store.records import GeneratedImage, Recipe

METHOD = "cluster-lora"
NEGATIVES = ("none", "donor")
PERSONALIZE_HINT = (
    "make one with `python -m debias_core personalize DIR --method cluster-lora --groups Y,A ...` "
    "and pass --param personalization=ID, or leave personalization=0 to train one"
)


@dataclass(frozen=True)
class ClusteredDreamBoothParams:
    personalization: int = field(
        default=0,
        metadata={"help": "a finished cluster-lora personalize job; 0 = run or reuse one"},
    )
    clusters: int = bounded(
        0, limit="groups", help="k per group when training (0: smallest group / 20 rounded, <= 20)"
    )
    features: str = field(
        default="clip", metadata={"help": "features the groups are clustered on (clip, run:ID)"}
    )
    min_group: int = field(
        default=20, metadata={"help": "real train images a group needs for its own LoRA pool"}
    )
    borrow: bool = field(
        default=True,
        metadata={"help": "smaller groups use their class's largest group's pool, no token"},
    )
    # The paper's A.6 for bias ratio 0.999: a borrowed group's bias label in double parentheses
    # and the opposite labels, so marked, as the negative prompt. Off on the demo: the embedded
    # model's vocabulary has no parentheses (they would be noise to it).
    emphasis: bool = field(
        default=False,
        metadata={
            "help": "borrowed groups: ((context)) in the prompt, the other ((contexts)) negated",
            "paper": True,
        },
    )
    negative: str = field(
        default="none",
        metadata={
            "help": "borrowed groups' negative prompt: none, or donor (the donor group's "
            "context in words, which its LoRA learned); emphasis=true replaces it",
            "choices": NEGATIVES,
        },
    )
    # 0.5 on the demo (generator sweep, bench/RESULTS.md): at 1 a borrowed group is drawn in
    # its donor's colour (75% right on a plain screen, 88% at 0.5). The paper attaches the
    # donor's LoRA as trained (1, the default on SD).
    borrowed_lora_scale: float = bounded(
        0.5,
        0.0,
        1.0,
        help="weight of the donor's LoRA in borrowed groups (1: as trained; lower lets the "
        "prompt's context override the donor group's, which its LoRA learned too)",
        paper=1.0,
    )
    train_steps: int = bounded(200, limit="steps", help="steps of each cluster's LoRA")
    train_batch: int = bounded(16, limit="batch_size", help="clusters trained per step")
    rank: int = bounded(
        4, 1, MAX_RANK, help="LoRA rank (the paper's r = alpha = 16 at SD scale)", paper=16
    )

    def check_inputs(self) -> None:
        if self.personalization < 0:
            raise ValueError("personalization must be a personalize job id (0: train one)")
        if self.clusters < 0:
            raise ValueError("clusters must be >= 0 (0: the paper's rule)")
        if self.min_group < 1:
            raise ValueError("min_group must be >= 1")
        if self.negative not in NEGATIVES:
            raise ValueError(f"negative must be one of {list(NEGATIVES)}, got {self.negative!r}")
        if self.train_steps < 1 or self.train_batch < 1 or self.rank < 1:
            raise ValueError("train_steps, train_batch and rank must be >= 1")


# -- which pool each group draws from ------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    """The group whose cluster pool a target group draws from; `borrowed`: not its own."""

    group: tuple[int, int]
    borrowed: bool


def train_sizes(store) -> dict[tuple[int, int], int]:
    """Real train images per (class, context) group."""
    sizes: dict[tuple[int, int], int] = defaultdict(int)
    for s in store.list_samples(SampleFilter(source="real", split="train")):
        sizes[(s.y, s.a)] += 1
    return dict(sizes)


def sources(store, groups, params: ClusteredDreamBoothParams) -> dict[tuple[int, int], Source]:
    """Each target group's pool: its own, or (borrow) its class's largest group's."""
    sizes = train_sizes(store)
    out, refused = {}, []
    for y, a in groups:
        if sizes.get((y, a), 0) >= params.min_group:
            out[(y, a)] = Source((y, a), False)
            continue
        donor = max(((n, -aa) for (yy, aa), n in sizes.items() if yy == y), default=(0, 0))
        if not params.borrow or donor[0] < params.min_group:
            refused.append(((y, a), sizes.get((y, a), 0)))
            continue
        out[(y, a)] = Source((y, -donor[1]), True)
    if refused:
        shown = ", ".join(f"{g} ({n})" for g, n in refused[:8])
        more = f" and {len(refused) - 8} more" if len(refused) > 8 else ""
        why = (
            "and borrow=false"
            if not params.borrow
            else "and no group of their class has that many to borrow from"
        )
        raise ValueError(
            f"clustered-dreambooth: group(s) {shown}{more} have fewer than "
            f"min_group={params.min_group} real train images to cluster {why}; "
            "lower min_group, set borrow=true, or generate other groups"
        )
    return out


def all_groups(store, config: GenerateConfig) -> list[tuple[int, int]]:
    from debias_core.generate.runner import target_groups

    return target_groups(store, config)


# -- the personalization job and its artifacts ---------------------------------------------------
def personalize_params(config: GenerateConfig, params, trained) -> dict:
    return {
        "method": METHOD,
        "backbone": config.backbone,
        "groups": [list(g) for g in trained],
        "steps": params.train_steps,
        "batch": params.train_batch,
        "seed": 0,  # one pool serves every generation seed
        "params": {"features": params.features, "clusters": params.clusters, "rank": params.rank},
    }


@dataclass(frozen=True)
class Cluster:
    """One cluster of a group's pool: its index, identifier token and LoRA artifacts."""

    index: int
    token: object  # store Artifact (kind token)
    lora: object  # store Artifact (kind lora)


def check_job(store, job_id: int, backbone: str) -> None:
    try:
        job = store.get_job(job_id)
    except KeyError:
        raise ValueError(
            f"clustered-dreambooth: there is no job {job_id}; {PERSONALIZE_HINT}"
        ) from None
    if job.kind != "personalize":
        raise ValueError(
            f"clustered-dreambooth: job {job_id} is a {job.kind} job, not a personalization; "
            f"{PERSONALIZE_HINT}"
        )
    method = job.params.get("method")
    if method != METHOD:
        raise ValueError(
            f"clustered-dreambooth: personalization job {job_id} trained {method}, not "
            f"{METHOD}; {PERSONALIZE_HINT}"
        )
    if job.status != "done":
        raise ValueError(
            f"clustered-dreambooth: personalization job {job_id} is {job.status}; finish it "
            f"(python -m debias_core jobs DIR --resume {job_id}) or {PERSONALIZE_HINT}"
        )
    if job.params.get("backbone") != backbone:
        raise ValueError(
            f"clustered-dreambooth: personalization job {job_id} trained on backbone "
            f"{job.params.get('backbone')!r}, not {backbone!r}"
        )


def pools(store, job_id: int) -> dict[tuple[int, int], list[Cluster]]:
    """{group: its clusters in cluster order} of a finished cluster-lora job."""
    by_concept: dict[str, dict] = defaultdict(dict)
    for artifact in store.list_artifacts(job_id=job_id):
        by_concept[artifact.concept][artifact.kind] = artifact
    out: dict[tuple[int, int], list[Cluster]] = defaultdict(list)
    for files in by_concept.values():
        lora = files.get("lora")
        if lora is None or lora.cluster is None:
            continue
        out[(lora.y, lora.a)].append(Cluster(lora.cluster, files.get("token"), lora))
    return {g: sorted(cs, key=lambda c: c.index) for g, cs in out.items()}


def check_coverage(pool: dict, needed: dict[tuple[int, int], Source], job_id: int) -> None:
    missing = sorted({s.group for s in needed.values() if s.group not in pool})
    if missing:
        shown = " ".join(f"{y},{a}" for y, a in missing[:8])
        raise ValueError(
            f"clustered-dreambooth: personalization job {job_id} has no cluster LoRAs for "
            f"group(s) {missing[:8]}; train them with `python -m debias_core personalize DIR "
            f"--method cluster-lora --groups {shown}` or leave personalization=0"
        )


def training_prompts(store, job_id: int):
    """The cluster-lora parameters the job trained with (its prompt and class prompt)."""
    from debias_core.personalize.base import build_params
    from debias_core.personalize.cluster_lora import ClusterLoraParams

    return build_params(ClusterLoraParams, store.get_job(job_id).params.get("params", {}))


# -- cluster assignment and the lazy plan -------------------------------------------------------
def cluster_order(seed: int, y: int, a: int, k: int) -> list[int]:
    """Which cluster (by position in the pool) image i takes: order[i % k]."""
    rng = np.random.default_rng([int(seed), int(y), int(a), 7])
    return [int(c) for c in rng.permutation(k)]


def images_of(position: int, k: int, per_group: int) -> range:
    """Indices i < per_group with i % k == position."""
    return range(position, per_group, k)


@dataclass(frozen=True)
class Segment:
    """The images of one (group, cluster): made in ceil(len(indices) / batch) units."""

    y: int
    a: int
    cluster: int  # position in the source group's pool
    indices: range
    units: int


class ClusterBatches(LazyUnits):
    """The plan as a lazy Sequence of units: batches of one cluster's images per group."""

    def __init__(self, segments: list[Segment], batch_size: int, make) -> None:
        self.segments, self.batch_size, self.make = segments, batch_size, make
        self.starts = list(np.cumsum([0] + [s.units for s in segments]))

    def __len__(self) -> int:
        return int(self.starts[-1])

    def unit(self, index: int) -> WorkUnit:
        k = bisect.bisect_right(self.starts, index) - 1
        segment, batch = self.segments[k], index - int(self.starts[k])
        start = batch * self.batch_size
        return self.make(segment, segment.indices[start : start + self.batch_size])

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


# -- the method ----------------------------------------------------------------------------------
class ClusteredDreamBooth:
    default_params = ClusteredDreamBoothParams()
    default_steps = 20
    attribute_site = "anywhere"  # each group's LoRA learned whole images of that group
    plans_own_targets = False  # a job names the groups it draws

    def prerequisites(self, store, config: GenerateConfig) -> list[Prerequisite]:
        params = method_params(self, config)
        if params.personalization:
            return []
        needed = sources(store, all_groups(store, config), params)
        trained = sorted({s.group for s in needed.values()})
        job = personalize_params(config, params, trained)
        return [Prerequisite("personalize", job, "personalization")]

    def check(self, store, config: GenerateConfig) -> None:
        params = method_params(self, config)
        if config.params.get("artifacts"):
            raise ValueError(
                "clustered-dreambooth attaches its cluster LoRAs itself: give "
                "personalization=ID instead of artifacts"
            )
        needed = sources(store, all_groups(store, config), params)
        if params.personalization:  # 0: the prerequisite job is checked, then run or reused
            check_job(store, params.personalization, config.backbone)
            check_coverage(pools(store, params.personalization), needed, params.personalization)

    def plan(self, store, config: GenerateConfig, groups) -> ClusterBatches:
        params = method_params(self, config)
        if not params.personalization:
            raise ValueError("clustered-dreambooth plans once its personalization job is known")
        job_id = params.personalization
        needed, pool = sources(store, groups, params), pools(store, job_id)
        check_coverage(pool, needed, job_id)
        trained = training_prompts(store, job_id)
        meta = store.meta()
        segments = []
        for y, a in groups:
            k = len(pool[needed[(y, a)].group])
            for position in range(k):
                indices = images_of(position, k, config.per_group)
                units = -(-len(indices) // config.batch_size)
                if units:
                    segments.append(Segment(y, a, position, indices, units))

        def unit(segment: Segment, indices: range) -> WorkUnit:
            y, a = segment.y, segment.a
            source = needed[(y, a)]
            clusters = pool[source.group]
            order = cluster_order(config.seed, y, a, len(clusters))
            cluster = clusters[order[segment.cluster]]
            text = group_text(meta, y, a)
            words = {"cls": text.class_text, "ctx": text.context_text}
            negative = ""
            if source.borrowed:
                if params.emphasis:
                    words["ctx"] = f"(({text.context_text}))"
                    negative = ", ".join(f"(({o}))" for o in text.other_contexts)
                elif params.negative == "donor":
                    negative = varying_context(meta, source.group[1])
                prompt, used = trained.class_prompt.format(**words), [cluster.lora]
            else:
                prompt = trained.prompt.format(token=cluster.token.name, **words)
                used = [cluster.token, cluster.lora]
            extra = {
                "artifacts": [u.id for u in used],
                "cluster": cluster.index,
                "clusters": len(clusters),
                "order": [clusters[p].index for p in order],
                "source_group": list(source.group),
                "borrowed": source.borrowed,
                "indices": list(indices),
                "personalization": job_id,
            }
            if source.borrowed and params.borrowed_lora_scale != 1.0:
                extra["lora_weight"] = params.borrowed_lora_scale  # recorded in the recipe
            return WorkUnit(
                key=f"cdb-y{y}-a{a}-k{cluster.index}-{indices.start}",
                y=y,
                a=a,
                seeds=tuple(image_seed(config.seed, y, a, i) for i in indices),
                prompts=(prompt,) * len(indices),
                negatives=(negative,) * len(indices),
                extra=extra,
            )

        return ClusterBatches(segments, config.batch_size, unit)

    def render(self, backbone, unit: WorkUnit, config: GenerateConfig, store):
        from debias_core.generate.runner import personalization

        steps = steps_of(self, config)
        artifacts = [store.verified_artifact(i) for i in unit.extra["artifacts"]]
        weight = unit.extra.get("lora_weight", 1.0)
        with personalization(store, backbone, artifacts, weight):
            images = run_pipeline(
                backbone, unit.prompts, unit.negatives, unit.seeds, steps, config.guidance
            )
        batch = {"seeds": list(unit.seeds), "prompts": list(unit.prompts)}
        if any(unit.negatives):  # older recipes have none: they replay with ""
            batch["negatives"] = list(unit.negatives)
        tokens = [a.ref() for a in artifacts if a.kind == "token"]
        loras = [a.ref() for a in artifacts if a.kind == "lora"]
        described = {k: v for k, v in unit.extra.items() if k not in ("artifacts", "indices")}
        adapters = {"artifacts": loras} | ({"weight": weight} if weight != 1.0 else {})
        return [
            GeneratedImage(
                image,
                unit.y,
                unit.a,
                recipe_for(
                    backbone,
                    "clustered-dreambooth",
                    steps,
                    config.guidance,
                    seed=unit.seeds[i],
                    prompt=unit.prompts[i],
                    negative_prompt=unit.negatives[i],
                    tokens={"artifacts": tokens},
                    adapters=adapters,
                    params={
                        **described,
                        "image": unit.extra["indices"][i],
                        "assignment": "image i of the group takes cluster order[i % clusters]",
                        "batch": batch,
                        "index": i,
                    },
                ),
                meta={"cluster": unit.extra["cluster"], "borrowed": unit.extra["borrowed"]},
            )
            for i, image in enumerate(images)
        ]

    def replay(self, backbone, recipe: Recipe, store=None) -> np.ndarray:
        """The recipe's artifacts are attached by `regenerate`; redraw the batch, keep one."""
        batch = recipe.params["batch"]
        negatives = batch.get("negatives", [""] * len(batch["seeds"]))
        images = run_pipeline(
            backbone,
            batch["prompts"],
            negatives,
            batch["seeds"],
            recipe.steps,
            recipe.guidance,
        )
        return images[recipe.params["index"]]


GENERATORS.register("clustered-dreambooth")(ClusteredDreamBooth())
