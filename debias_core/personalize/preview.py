"""What a learned concept draws: its source images, a reconstruction, each token's attention.

The reconstruction uses the method's own reconstruction prompt with the concept's artifacts
attached (`backbone.personalized`); the cross-attention of every learned token is recorded over
all denoising steps and shown beside the token's mask, where the method has masks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from debias_core.models.attention import capture_cross_attention
from debias_core.personalize import targets
from debias_core.personalize.base import (
    PERSONALIZERS,
    REST,
    Concept,
    PersonalizeConfig,
    TokenSpec,
    build_params,
)
from debias_core.personalize.data import (
    per_label_token_masks,
    read_label_masks,
    read_masks,
    read_pixels,
    token_masks,
)

MAX_SOURCES = 4


@dataclass
class ConceptPreview:
    concept: str
    method: str
    prompt: str
    sources: list[np.ndarray]  # uint8 (H, W, 3)
    reconstruction: np.ndarray  # uint8 (H, W, 3)
    attention: dict[str, np.ndarray] = field(default_factory=dict)  # token -> (H, W) in [0, 1]
    masks: dict[str, np.ndarray] = field(default_factory=dict)  # token -> (H, W) in [0, 1]
    artifact_ids: list[int] = field(default_factory=list)


def concept_from_artifacts(store, artifacts) -> Concept:
    """Rebuild a concept from its artifact rows (no re-planning: the rows say everything)."""
    first = artifacts[0]
    tokens = tuple(
        TokenSpec(a.name, "", a.meta.get("role", "concept"), a.meta.get("mask", ""))
        for a in artifacts
        if a.kind == "token"
    )
    return Concept(
        key=first.concept,
        scope=first.scope,
        sample_ids=first.sample_ids,
        tokens=tokens,
        lora=any(a.kind == "lora" for a in artifacts),
        y=first.y,
        a=first.a,
        cluster=first.cluster,
        text=dict(first.meta.get("text", {})),
        contexts=targets.contexts_of(store, first.sample_ids[:1]),
    )


def concept_preview(
    store, job_id: int, concept_key: str, backbone, seed: int = 0, steps: int = 20
) -> ConceptPreview:
    """Sources, reconstruction and per-token attention maps of one concept of a job."""
    from debias_core.generate.txt2img import run_pipeline

    artifacts = [
        store.verified_artifact(a.id) for a in store.list_artifacts(job_id, concept=concept_key)
    ]
    if not artifacts:
        raise ValueError(f"job {job_id} has no artifacts for concept {concept_key!r}")
    concept = concept_from_artifacts(store, artifacts)
    config = PersonalizeConfig(**artifacts[0].config)
    method = PERSONALIZERS.get(config.method)
    params = build_params(method.params_class, dict(config.params))
    draw = method.reconstruction(concept, params)
    size = backbone.image_size
    tokens = [store.artifact_path(a) for a in artifacts if a.kind == "token"]
    loras = [store.artifact_path(a) for a in artifacts if a.kind == "lora"]
    with backbone.personalized(tokens=tokens, adapters=loras):
        ids = backbone.tokenize(draw.text)[0].tolist()
        names = [t for t in draw.tokens if backbone.tokenizer.convert_tokens_to_ids(t) in ids]
        positions = [ids.index(backbone.tokenizer.convert_tokens_to_ids(t)) for t in names]
        with capture_cross_attention(backbone.unet, positions or [0]) as attn:
            image = run_pipeline(backbone, [draw.text], [""], [seed], steps, 4.0)[0]
    maps = _upsample(attn.mean()[-1:], size)[0] if positions else None  # the prompt's half
    masks = {}
    if any(t.mask for t in concept.tokens):  # a token per label, each with its own mask
        try:
            masks = label_token_masks(store, concept, size, getattr(params, "masks", "dataset"))
        except ValueError:  # no mask from that source: show the maps alone
            masks = {}
    elif any(t.role in ("object", "context") for t in concept.tokens):
        try:
            source = getattr(params, "masks", "dataset")  # the masks the job trained with
            fg = read_masks(store, concept.sample_ids[:1], size, source)
            masks = {k: v[0, 0].numpy() for k, v in token_masks(concept, fg).items()}
        except ValueError:  # no mask from that source: show the maps alone
            masks = {}
    return ConceptPreview(
        concept=concept_key,
        method=config.method,
        prompt=draw.text,
        sources=list(read_pixels(store, concept.sample_ids[:MAX_SOURCES], size)),
        reconstruction=image,
        attention={n: maps[k].numpy() for k, n in enumerate(names)} if maps is not None else {},
        masks=masks,
        artifact_ids=[a.id for a in artifacts],
    )


def label_token_masks(store, concept, size: int, source: str) -> dict:
    """Each token's mask (size x size) when tokens own label masks (per-image, parts=labels)."""
    names = [t.mask for t in concept.tokens if t.mask and t.mask != REST]
    read = read_label_masks(store, concept.sample_ids[0], names, size, source)
    return {k: v[0, 0].numpy() for k, v in per_label_token_masks(concept, read).items()}


def _upsample(maps: torch.Tensor, size: int) -> torch.Tensor:
    """(B, K, h, w) -> (B, K, size, size), each map scaled to max 1."""
    maps = F.interpolate(maps.float(), size=(size, size), mode="bilinear", align_corners=False)
    return maps / maps.flatten(2).amax(dim=2).clamp(min=1e-8)[..., None, None]


def concept_keys(store, job_id: int) -> list[str]:
    """The concepts of a job that have artifacts, in order."""
    seen: dict[str, None] = {}
    for artifact in store.list_artifacts(job_id=job_id):
        seen.setdefault(artifact.concept, None)
    return list(seen)
