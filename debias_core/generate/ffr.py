"""`ffr` (seed 004, From Fake to Real): group-balanced text-to-image data for two-stage training.

The prompts are FFR's (`prompts.ffr`): "a photo of {a random kind of the class} in {a random place
of the bias group}", no negative prompt. The paper fine-tunes a separate Stable Diffusion per bias
group so the generator does not relearn the bias; its public code draws from the stock model.
Here `personalization=JOB` (a finished `group-lora` or `group-dreambooth` personalize job) draws
each (class, context) group with that group's own LoRA (and identifier token, placed before the
kind), the closest the project's per-group personalizations come to a model per bias group;
0 draws from the stock backbone, as the public code does. Train with `train --method ffr`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from debias_core.generate.base import (
    GENERATORS,
    GenerateConfig,
    GroupBatches,
    method_params,
)
from debias_core.generate.prompts import TEMPLATES, group_text
from debias_core.generate.txt2img import PromptParams, TextToImage

GROUP_METHODS = ("group-lora", "group-dreambooth")
HINT = (
    "make one with `python -m debias_core personalize DIR --method group-lora --groups Y,A ...` "
    "and pass --param personalization=ID, or leave personalization=0 (the stock backbone)"
)


@dataclass(frozen=True)
class FfrParams(PromptParams):
    template: str = field(
        default="ffr", metadata={"help": "prompt template name", "choices": TEMPLATES}
    )
    personalization: int = field(
        default=0,
        metadata={
            "help": "a finished group-lora / group-dreambooth personalize job: each group draws "
            "with its own LoRA; 0 = the stock backbone"
        },
    )

    def check_inputs(self) -> None:
        super().check_inputs()
        if self.personalization < 0:
            raise ValueError("personalization must be a personalize job id (0: none)")


def check_job(store, job_id: int, backbone: str) -> None:
    try:
        job = store.get_job(job_id)
    except KeyError:
        raise ValueError(f"ffr: there is no job {job_id}; {HINT}") from None
    method = job.params.get("method")
    if job.kind != "personalize" or method not in GROUP_METHODS:
        raise ValueError(f"ffr: job {job_id} is not a {' / '.join(GROUP_METHODS)} job; {HINT}")
    if job.status != "done":
        raise ValueError(f"ffr: personalization job {job_id} is {job.status}; finish it first")
    if job.params.get("backbone") != backbone:
        raise ValueError(
            f"ffr: personalization job {job_id} trained on backbone "
            f"{job.params.get('backbone')!r}, not {backbone!r}"
        )


def group_artifacts(store, job_id: int) -> dict[tuple[int, int], list]:
    """{(y, a): [token artifact (group-dreambooth only), LoRA artifact]} of a finished job."""
    out: dict[tuple[int, int], list] = {}
    for artifact in store.list_artifacts(job_id=job_id):
        if artifact.y is not None and artifact.a is not None and artifact.cluster is None:
            out.setdefault((artifact.y, artifact.a), []).append(artifact)
    return {g: sorted(arts, key=lambda a: a.kind != "token") for g, arts in out.items()}


def check_coverage(store, job_id: int, groups) -> dict[tuple[int, int], list]:
    """The job's artifacts per group; every target group must have its own."""
    learned = group_artifacts(store, job_id)
    missing = [tuple(g) for g in groups if tuple(g) not in learned]
    if missing:
        raise ValueError(
            f"ffr: personalization job {job_id} learned no LoRA for group(s) {missing[:8]}; {HINT}"
        )
    return learned


class Ffr(TextToImage):
    def __init__(self) -> None:
        self.default_params = FfrParams()

    def check(self, store, config: GenerateConfig) -> None:
        params = method_params(self, config)
        if params.personalization:
            check_job(store, params.personalization, config.backbone)
            n_classes, n_attrs = len(store.class_names), len(store.attr_names)
            groups = config.groups or [(y, a) for y in range(n_classes) for a in range(n_attrs)]
            check_coverage(store, params.personalization, groups)

    def plan(self, store, config: GenerateConfig, groups) -> GroupBatches:
        params = method_params(self, config)
        if not params.personalization:
            return super().plan(store, config, groups)
        learned = check_coverage(store, params.personalization, groups)
        meta, template = store.meta(), TEMPLATES.get(params.template)

        def unit(y: int, a: int, ks: range):
            text, used = group_text(meta, y, a), learned[(y, a)]
            token = next((u.name for u in used if u.kind == "token"), None)
            if token:  # group-dreambooth: its identifier names the class's kinds
                kinds = text.kinds or (text.class_text,)
                text = replace(text, kinds=tuple(f"{token} {k}" for k in kinds))
            pairs = [template(text, k) for k in ks]
            return self.make_unit(config, y, a, ks, pairs, [u.id for u in used])

        return GroupBatches(list(groups), config.per_group, config.batch_size, unit)

    def render(self, backbone, unit, config: GenerateConfig, store=None):
        from debias_core.generate.runner import personalization, with_artifacts

        ids = unit.extra.get("artifacts", [])
        artifacts = [store.verified_artifact(i) for i in ids] if ids else []
        with personalization(store, backbone, artifacts):
            images = super().render(backbone, unit, config, store)
        return [with_artifacts(image, artifacts) for image in images]


GENERATORS.register("ffr")(Ffr())
