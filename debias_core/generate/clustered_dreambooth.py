"""`clustered-dreambooth` (seed 002, Section 3.2-3.3 and A.5): M images per group, drawn uniformly
over that group's pool of cluster LoRAs (one identifier token + LoRA per k-means cluster, trained
by the `cluster-lora` personalization).

1. The pool: a finished `cluster-lora` personalize job (`personalization=ID`), or, with 0, one
   run or reused for the groups this generation needs (the Prerequisite seam).
2. Image i of group g takes cluster order[i mod k], `order` a permutation of g's k clusters seeded
   by (job seed, g): every cluster draws M / k images (M_cl x k = M in the paper), and which
   clusters draw one more is random. The assignment is recorded in each recipe.
3. A group too small to cluster (fewer than `min_group` real train images; the minority groups of
   a strongly biased dataset) borrows the pool of its class's largest group or of the largest
   group with its context (`borrow_from`: on SD the paper's rule, by class unless the attribute
   lies on the object; on the demo by context) and is prompted without the identifier token,
   naming its own class and context (Section A.5: "removing the learnt [V] token ... leads to
   more accurate depiction of the target group"). `borrow=false` refuses them. On the demo the
   donor's LoRA is attached at `borrowed_lora_scale` = 0.5 and a group's own cluster LoRAs at
   `own_lora_scale` = 0.75, so the named class and context win over what the LoRAs learned
   besides their group (generator sweep, bench/RESULTS.md); both 1 on SD, as the paper.
4. A work unit is a batch of images across clusters and groups, each image with its own
   cluster's LoRA (at its weight) and token (per-sample adapters, `generate/adapters.py`: one
   forward pass for the batch); `per_sample_adapters=false` makes each unit one cluster's images
   with its LoRA attached for the whole batch, as before. The files attach for the scope of that
   render only; recipes name them by id and content hash, so `regenerate` reattaches them and
   replays bit-exactly, and refuses when one is missing or changed.

Filter the result with `verify --policy clip-top-m` (Eq. 1) and train with `--method ffr-llr`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from debias_core.generate.adapters import (
    ROWS_KEY,
    WEIGHTS_KEY,
    per_sample_personalization,
    row_loras,
    unique_artifacts,
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
from debias_core.generate.cluster_sources import Source, emphasised, sources
from debias_core.generate.cluster_units import (
    ClusterBatches,
    MixedBatches,
    Segment,
    cluster_order,
    images_of,
)
from debias_core.generate.prompts import group_text, varying_context
from debias_core.generate.sites import check_on_object, on_object_option
from debias_core.generate.txt2img import image_seed, run_pipeline
from debias_core.limits import MAX_RANK
from debias_core.params import bounded
from debias_core.store.records import GeneratedImage, Recipe

METHOD = "cluster-lora"
# Which group a small group borrows its pool from. The paper's A.6 does both: Waterbirds and
# CelebA borrow from the class's group in the other context (the context is emphasised in the
# prompt), UTKFace, whose bias (age) lies on the person, from the group with the same context in
# the other class (the class is emphasised). A LoRA learned on the class's majority draws the
# majority's attribute when it lies on the object (a stroke colour), so "auto" borrows by context
# there and by class elsewhere.
BORROW_FROM = ("auto", "class", "context")
# Measured on Colored Digits' stroke variant at bias 0.99 (bench/RESULTS.md, issue 22).
ON_OBJECT_WHY = (
    "it put 84% of its images in their recorded group there (bench/RESULTS.md, issue 22: the "
    "small groups, borrowing the pool of their colour, 96%; the groups with their own cluster "
    "LoRAs 50%, whose LoRAs drift the stroke's hue, blue to cyan and yellow to orange, at the "
    "sizes measured), so its images would be stored in groups they do not show. "
    "--param on_object=allow runs it anyway (then `verify` sets aside the images a judge reads "
    "in another group)"
)
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
    # context on the demo (generator sweep session 3, bench/RESULTS.md): a donor of another
    # class but the group's own context draws the context right and the named class over it
    # (with own_lora_scale 0.75, all 10 digits x 8 colours: 96.2 -> 98.8% right plain, 89.7 ->
    # 97.2% slant); the paper's rule (auto: by class unless the attribute lies on the object)
    # on SD.
    borrow_from: str = field(
        default="context",
        metadata={
            "help": "a small group borrows the pool of its class's largest group (class) or of "
            "the largest group with its context (context); auto = context when the attribute "
            "lies on the object",
            "choices": BORROW_FROM,
            "paper": "auto",
        },
    )
    on_object: str = on_object_option()
    # The paper's A.6 for bias ratio 0.999: a borrowed group's bias label in double parentheses
    # and the opposite labels, so marked, as the negative prompt (the class label instead, when
    # it borrows by context). Off on the demo: the embedded model's vocabulary has no
    # parentheses (they would be noise to it).
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
    # 0.75 on the demo (generator sweep session 3): at 1 the own pools' LoRAs draw the odd
    # strokes of their clusters (slanted 0s and 8s read as 7 or 4); at 0.5 the group's colour
    # fades. The paper attaches each cluster's LoRA as trained (1, the default on SD).
    own_lora_scale: float = bounded(
        0.75,
        0.0,
        1.0,
        help="weight of a group's own cluster LoRAs (1: as trained; lower draws less of what "
        "they learned besides the group, e.g. a slant the digit judge misreads)",
        paper=1.0,
    )
    train_steps: int = bounded(200, limit="steps", help="steps of each cluster's LoRA")
    train_batch: int = bounded(16, limit="batch_size", help="clusters trained per step")
    rank: int = bounded(
        4, 1, MAX_RANK, help="LoRA rank (the paper's r = alpha = 16 at SD scale)", paper=16
    )
    per_sample_adapters: bool = field(
        default=True,
        metadata={
            "help": "one batch mixes clusters and groups, each image with its own LoRA and token "
            "(false: one cluster per batch)"
        },
    )

    def check_inputs(self) -> None:
        if self.personalization < 0:
            raise ValueError("personalization must be a personalize job id (0: train one)")
        if self.clusters < 0:
            raise ValueError("clusters must be >= 0 (0: the paper's rule)")
        check_on_object(self.on_object)
        if self.borrow_from not in BORROW_FROM:
            raise ValueError(f"borrow_from must be one of {list(BORROW_FROM)}")
        if self.min_group < 1:
            raise ValueError("min_group must be >= 1")
        if self.negative not in NEGATIVES:
            raise ValueError(f"negative must be one of {list(NEGATIVES)}, got {self.negative!r}")
        if self.train_steps < 1 or self.train_batch < 1 or self.rank < 1:
            raise ValueError("train_steps, train_batch and rank must be >= 1")


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


# -- the method ----------------------------------------------------------------------------------
DESCRIBED = ("cluster", "clusters", "order", "source_group", "borrowed", "personalization", "image")


def own_files(artifacts: list) -> dict:
    """The ids of an image's own LoRA and identifier token (None when borrowed)."""
    kinds = {a.kind: a.id for a in artifacts}
    return {"lora": kinds.get("lora"), "token": kinds.get("token")}


class ClusteredDreamBooth:
    default_params = ClusteredDreamBoothParams()
    default_steps = 20
    attribute_site = "anywhere"  # each group's LoRA learned whole images of that group
    plans_own_targets = False  # a job names the groups it draws

    def on_object_refusal(self, config: GenerateConfig) -> str:
        """Refused where the attribute lies on the object unless on_object=allow (sites.py)."""
        return "" if method_params(self, config).on_object == "allow" else ON_OBJECT_WHY

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

    def plan(self, store, config: GenerateConfig, groups) -> LazyUnits:
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

        def rows(segment: Segment, indices: range) -> list[dict]:
            """(seed, prompt, negative, what the recipe says) of the segment's images."""
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
                    words, negative = emphasised(meta, words, text, y, source.by)
                elif params.negative == "donor":
                    negative = varying_context(meta, source.group[1])
                prompt, used = trained.class_prompt.format(**words), [cluster.lora]
            else:
                prompt = trained.prompt.format(token=cluster.token.name, **words)
                used = [cluster.token, cluster.lora]
            described = {
                "y": y,
                "a": a,
                "artifacts": [u.id for u in used],
                "cluster": cluster.index,
                "clusters": len(clusters),
                "order": [clusters[p].index for p in order],
                "source_group": list(source.group),
                "borrowed": source.borrowed,
                "personalization": job_id,
                # the LoRA's weight: the donor's in a borrowed group, else the group's own
                # (1: as trained); in the recipe
                "lora_weight": (
                    params.borrowed_lora_scale if source.borrowed else params.own_lora_scale
                ),
            }
            return [
                {
                    **described,
                    "seed": image_seed(config.seed, y, a, i),
                    "prompt": prompt,
                    "negative": negative,
                    "image": i,
                }
                for i in indices
            ]

        def unit_of(key: str, drawn: list[dict]) -> WorkUnit:
            return WorkUnit(
                key=key,
                y=drawn[0]["y"],
                a=drawn[0]["a"],
                seeds=tuple(r["seed"] for r in drawn),
                prompts=tuple(r["prompt"] for r in drawn),
                negatives=tuple(r["negative"] for r in drawn),
                extra={"rows": drawn, "mixed": params.per_sample_adapters},
            )

        if params.per_sample_adapters:

            def mixed(index: int, pieces: list[tuple[Segment, range]]) -> WorkUnit:
                return unit_of(f"cdb-mixed-{index}", [r for p in pieces for r in rows(*p)])

            return MixedBatches(segments, config.batch_size, mixed)

        def unit(segment: Segment, indices: range) -> WorkUnit:
            drawn = rows(segment, indices)
            cluster = drawn[0]["cluster"]
            return unit_of(f"cdb-y{segment.y}-a{segment.a}-k{cluster}-{indices.start}", drawn)

        return ClusterBatches(segments, config.batch_size, unit)

    def render(self, backbone, unit: WorkUnit, config: GenerateConfig, store):
        from debias_core.generate.runner import personalization

        steps, rows = steps_of(self, config), unit.extra["rows"]
        verified = {i: store.verified_artifact(i) for r in rows for i in r["artifacts"]}
        per_row = [[verified[i] for i in r["artifacts"]] for r in rows]
        artifacts = unique_artifacts(per_row)
        batch = {"seeds": list(unit.seeds), "prompts": list(unit.prompts)}
        if any(unit.negatives):  # older recipes have none: they replay with ""
            batch["negatives"] = list(unit.negatives)
        weights = [float(r.get("lora_weight", 1.0)) for r in rows]
        if unit.extra["mixed"]:
            batch[ROWS_KEY] = row_loras(per_row)
            if any(w != 1.0 for w in weights):
                batch[WEIGHTS_KEY] = weights
            attach = per_sample_personalization(
                store, backbone, artifacts, batch[ROWS_KEY], batch.get(WEIGHTS_KEY)
            )
        else:  # one segment's images: one weight
            attach = personalization(store, backbone, artifacts, weights[0])
        with attach:
            images = run_pipeline(
                backbone, unit.prompts, unit.negatives, unit.seeds, steps, config.guidance
            )
        # the recipe names every file of the batch (a replay redraws it); the image's own are
        # params "lora" / "token"
        tokens = [a.ref() for a in artifacts if a.kind == "token"]
        loras = [a.ref() for a in artifacts if a.kind == "lora"]
        return [
            GeneratedImage(
                image,
                row["y"],
                row["a"],
                recipe_for(
                    backbone,
                    "clustered-dreambooth",
                    steps,
                    config.guidance,
                    seed=unit.seeds[i],
                    prompt=unit.prompts[i],
                    negative_prompt=unit.negatives[i],
                    tokens={"artifacts": tokens},
                    adapters={"artifacts": loras}
                    | ({"weight": weights[i]} if weights[i] != 1.0 else {}),
                    params={
                        **own_files(per_row[i]),
                        **{k: row[k] for k in DESCRIBED},
                        "assignment": "image i of the group takes cluster order[i % clusters]",
                        "batch": batch,
                        "index": i,
                    },
                ),
                meta={"cluster": row["cluster"], "borrowed": row["borrowed"]},
            )
            for i, (image, row) in enumerate(zip(images, rows, strict=True))
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
