"""Train a batch of concepts together and hand back each concept's learned tensors.

Everything happens inside `backbone.scoped()`: new tokens go into a private copy of the tokenizer
and a trainable extension of the embedding table, LoRA layers wrap the UNet's attention Linears;
on exit the backbone is exactly as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from debias_core.models.attention import loss_layers
from debias_core.personalize.base import Concept, PersonalizeConfig, concept_seed
from debias_core.personalize.loop import ChunkCallback, LoopOptions, Trainables, run_phase


@dataclass
class ConceptResult:
    """What one concept learned, ready to export."""

    concept: Concept
    tokens: dict[str, torch.Tensor] = field(default_factory=dict)  # token -> (dim,)
    lora: dict[str, torch.Tensor] | None = None  # peft-layout state dict
    loss_curve: list[float] = field(default_factory=list)
    lora_metadata: dict = field(default_factory=dict)


def concept_generators(concepts: Sequence[Concept], seed: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(concept_seed(seed, c.key)) for c in concepts]


def initial_vector(backbone, table: torch.Tensor, words: str) -> torch.Tensor:
    """The mean embedding of an initializer text's tokens."""
    ids = backbone.tokenizer(words, add_special_tokens=False).input_ids
    if not ids:
        raise ValueError(f"the initializer {words!r} tokenizes to nothing")
    return table[ids].float().mean(dim=0)


def add_trainable_tokens(backbone, concepts: Sequence[Concept]) -> Trainables:
    """Add every concept's tokens to the (scoped) tokenizer, with trainable embedding rows."""
    from debias_core.models.tokens import ExtendedEmbedding, taken_names

    specs = [t for c in concepts for t in c.tokens]
    if not specs:
        return Trainables()
    names = [t.name for t in specs]
    taken = taken_names(backbone.tokenizer, names)
    if taken or len(set(names)) != len(names):
        raise ValueError(f"token names already in the vocabulary or repeated: {taken or names}")
    base = backbone.text_encoder.get_input_embeddings()
    init = torch.stack([initial_vector(backbone, base.weight.detach(), t.init) for t in specs])
    backbone.tokenizer.add_tokens(names)
    ids = backbone.tokenizer.convert_tokens_to_ids(names)
    if ids != list(range(ids[0], ids[0] + len(ids))):
        raise ValueError(f"new token ids are not contiguous: {ids}")
    extended = ExtendedEmbedding(base, init.to(base.weight.device), first_id=ids[0])
    backbone.text_encoder.set_input_embeddings(extended)
    return Trainables(embedding=extended, token_ids=dict(zip(names, ids, strict=True)))


DEFAULT_CHUNK_STEPS = 25
MIN_LOSS_POINTS = 20  # an automatic chunk leaves a loss plot at least this many points


def report_every(chunk_steps: int, total_steps: int) -> int:
    """Steps per loss point / progress report: the config's chunk if given, else 25, shortened
    for short jobs so their loss plot is a curve (a 10-step job logs every step), not a dot."""
    if chunk_steps:
        return chunk_steps
    return max(1, min(DEFAULT_CHUNK_STEPS, total_steps // MIN_LOSS_POINTS))


def train_concepts(
    backbone,
    method,
    concepts: Sequence[Concept],
    data: Sequence,
    config: PersonalizeConfig,
    params,
    on_chunk: ChunkCallback | None = None,
) -> list[ConceptResult]:
    """Train `concepts` (with their loaded `data`) through the method's phases, in one batch."""
    from debias_core.models.lora_batched import attach_batched_lora

    gens = concept_generators(concepts, config.seed)
    phases = method.phases(config, params)
    attention = any(p.attention_weight > 0 for p in phases)
    side, layers = (
        loss_layers(backbone.unet, backbone.unet.config.sample_size) if attention else (None, None)
    )
    options = LoopOptions(
        images_per_step=params.images_per_step,
        weight_decay=params.weight_decay,
        mixed_precision=config.mixed_precision,
        gradient_checkpointing=config.gradient_checkpointing,
        chunk_steps=report_every(config.chunk_steps, sum(p.steps for p in phases)),
        attention_resolution=side,
        attention_layers=tuple(layers) if layers else None,
    )
    with backbone.scoped():
        trainables = add_trainable_tokens(backbone, concepts)
        with_lora = [k for k, c in enumerate(concepts) if c.lora]
        if with_lora:
            lora = attach_batched_lora(backbone.unet, [gens[k] for k in with_lora], params.rank)
            trainables.lora = lora
            trainables.lora_slot = {concepts[k].key: s for s, k in enumerate(with_lora)}
        curves: list[list[float]] = [[] for _ in concepts]

        def prompt_fn(concept, gen, index, prior):
            return method.prompt(concept, params, gen, index, prior)

        for phase in phases:
            phase_curves = run_phase(
                backbone, concepts, data, gens, prompt_fn, trainables, phase, options, on_chunk
            )
            for k, curve in enumerate(phase_curves):
                curves[k].extend(curve)
        return [_result(c, trainables, curves[k]) for k, c in enumerate(concepts)]


def _result(concept: Concept, trainables: Trainables, curve: list[float]) -> ConceptResult:
    result = ConceptResult(concept, loss_curve=curve)
    if trainables.embedding is not None:
        rows = trainables.embedding.new_rows.detach().float().cpu()
        first = trainables.embedding.num_base
        for token in concept.tokens:
            result.tokens[token.name] = rows[trainables.token_ids[token.name] - first].clone()
    if concept.lora and trainables.lora is not None:
        result.lora = trainables.lora.state_dict_of(trainables.lora_slot[concept.key])
        result.lora_metadata = trainables.lora.peft_metadata()
    return result
