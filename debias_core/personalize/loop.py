"""The one diffusion fine-tuning loop every personalizer trains with.

Each step, for every concept of the batch: draw its images, timesteps and noise from the concept's
own generator; noise the latents with the backbone's scheduler; predict with the UNet (each
sample's text names its concept's tokens, and it uses its concept's LoRA through the batched
low-rank layers); the target is the scheduler's (epsilon or v). Loss per sample: the diffusion
MSE, optionally masked by the union of its prompt's token masks, plus lambda times the
cross-attention loss (each token's max-normalised map against its mask, after Break-A-Scene).
A concept's loss is the mean over its samples and the step minimises the *sum* over concepts, so
every concept gets exactly the gradient it would get trained alone (AdamW is per element).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from debias_core.models.attention import capture_cross_attention
from debias_core.numerics import require_finite
from debias_core.personalize.base import Concept, Phase, PromptDraw
from debias_core.personalize.data import ConceptData, downsample

# on_chunk(step, phase, per-concept mean losses since the last chunk); may raise to cancel.
ChunkCallback = Callable[[int, Phase, list[float]], None]


@dataclass
class Trainables:
    """What the loop may update: the new token rows and the batched LoRA (either may be None)."""

    embedding: object | None = None  # models.tokens.ExtendedEmbedding
    lora: object | None = None  # models.lora_batched.BatchedLoRA
    lora_slot: dict[str, int] = field(default_factory=dict)  # concept key -> adapter index
    token_ids: dict[str, int] = field(default_factory=dict)  # token name -> id
    lora_trained: bool = False  # once a phase trained the LoRA, later phases apply it too


@dataclass(frozen=True)
class LoopOptions:
    images_per_step: int = 2
    weight_decay: float = 0.0
    mixed_precision: str = "no"  # no | bf16 | fp16
    gradient_checkpointing: bool = False
    chunk_steps: int = 25
    attention_resolution: int | None = None  # the map side the attention loss uses
    attention_layers: tuple[str, ...] | None = None  # the layers with maps of that side


@dataclass
class Batch:
    """One step's samples, all concepts together."""

    latents: torch.Tensor
    noise: torch.Tensor
    timesteps: torch.Tensor
    prompts: list[PromptDraw]
    owner: torch.Tensor  # (B,) concept position in the batch
    weight: torch.Tensor  # (B,)
    masks: list[dict[str, torch.Tensor]]  # per sample: token -> (1, H, W)


def draw_batch(
    concepts: Sequence[Concept],
    data: Sequence[ConceptData],
    gens: Sequence[torch.Generator],
    prompt_fn: Callable[[Concept, torch.Generator, int, bool], PromptDraw],
    images_per_step: int,
    num_train_timesteps: int,
) -> Batch:
    """Every draw of concept k comes from gens[k] in a fixed order: batching changes nothing."""
    parts = {"latents": [], "noise": [], "t": [], "owner": [], "weight": []}
    prompts, masks = [], []
    for k, (concept, d, gen) in enumerate(zip(concepts, data, gens, strict=True)):
        pools = [d.instances] + ([d.priors] if len(d.priors) else [])
        for pool in pools:
            idx = pool[torch.randint(0, len(pool), (images_per_step,), generator=gen)]
            eps = torch.randn(d.mean[idx].shape, generator=gen)
            parts["latents"].append(d.mean[idx] + d.std[idx] * eps)
            parts["noise"].append(torch.randn(d.mean[idx].shape, generator=gen))
            parts["t"].append(torch.randint(0, num_train_timesteps, (len(idx),), generator=gen))
            parts["owner"].append(torch.full((len(idx),), k))
            parts["weight"].append(d.weight[idx])
            for i in idx.tolist():
                draw = prompt_fn(concept, gen, i, bool(d.prior[i]))
                prompts.append(draw)
                masks.append({t: d.masks[t][i] for t in draw.tokens if t in d.masks})
    return Batch(
        torch.cat(parts["latents"]),
        torch.cat(parts["noise"]),
        torch.cat(parts["t"]),
        prompts,
        torch.cat(parts["owner"]),
        torch.cat(parts["weight"]).float(),
        masks,
    )


def diffusion_target(scheduler, latents, noise, timesteps) -> torch.Tensor:
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        return scheduler.get_velocity(latents, noise, timesteps)
    if kind == "sample":
        return latents
    raise ValueError(f"unsupported prediction type {kind!r}")


def token_positions(input_ids: torch.Tensor, prompts: list[PromptDraw], token_ids: dict):
    """(B, K) positions of each prompt's learned tokens in its ids, and a (B, K) validity mask."""
    k = max((len(p.tokens) for p in prompts), default=0)
    positions = torch.zeros(len(prompts), max(k, 1), dtype=torch.long)
    valid = torch.zeros(len(prompts), max(k, 1), dtype=torch.bool)
    for i, draw in enumerate(prompts):
        row = input_ids[i].tolist()
        for j, token in enumerate(draw.tokens):
            if token_ids[token] not in row:
                raise ValueError(f"token {token!r} was cut from the prompt {draw.text!r}")
            positions[i, j] = row.index(token_ids[token])
            valid[i, j] = True
    return positions, valid


def loss_mask(batch: Batch, size: tuple[int, int]) -> torch.Tensor:
    """(B, 1, h, w): per sample, the union (max) of its prompt's token masks; 1 where none."""
    out = torch.ones(len(batch.prompts), 1, *size)
    for i, masks in enumerate(batch.masks):
        if masks:
            union = torch.stack(list(masks.values())).amax(dim=0)[None]
            out[i] = downsample(union, size)[0]
    return out


def attention_loss(maps: torch.Tensor, batch: Batch, valid: torch.Tensor) -> torch.Tensor:
    """(B,) mean over each sample's tokens of MSE(map / max(map), token mask at map size)."""
    b, k, h, w = maps.shape
    norm = maps / maps.flatten(2).amax(dim=2).clamp(min=1e-8)[..., None, None]
    target = torch.zeros(b, k, h, w, device=maps.device)
    for i, draw in enumerate(batch.prompts):
        for j, token in enumerate(draw.tokens):
            if token in batch.masks[i]:
                target[i, j] = downsample(batch.masks[i][token][None], (h, w))[0, 0]
    err = ((norm.float() - target) ** 2).mean(dim=(2, 3))
    valid = valid.to(maps.device).float()
    return (err * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1.0)


def make_optimizer(trainables: Trainables, phase: Phase, weight_decay: float):
    groups = []
    if phase.train_tokens and trainables.embedding is not None:
        groups.append({"params": [trainables.embedding.new_rows], "lr": phase.lr_tokens})
    if phase.train_lora and trainables.lora is not None:
        groups.append({"params": trainables.lora.parameters(), "lr": phase.lr_lora})
    if not groups:
        raise ValueError(f"phase {phase.name!r} has nothing to train")
    return torch.optim.AdamW(groups, weight_decay=weight_decay)


def _set_trainable(trainables: Trainables, phase: Phase) -> None:
    if trainables.embedding is not None:
        trainables.embedding.new_rows.requires_grad_(phase.train_tokens)
    if trainables.lora is not None:
        for p in trainables.lora.parameters():
            p.requires_grad_(phase.train_lora)


def _autocast(device: torch.device, mode: str):
    if mode == "no":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if mode == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def run_phase(
    backbone,
    concepts: Sequence[Concept],
    data: Sequence[ConceptData],
    gens: Sequence[torch.Generator],
    prompt_fn: Callable[[Concept, torch.Generator, int, bool], PromptDraw],
    trainables: Trainables,
    phase: Phase,
    options: LoopOptions,
    on_chunk: ChunkCallback | None = None,
) -> list[list[float]]:
    """Train one phase; returns each concept's per-step loss."""
    device, scheduler = backbone.device, backbone.scheduler
    _set_trainable(trainables, phase)
    optimizer = make_optimizer(trainables, phase, options.weight_decay)
    scaler = torch.amp.GradScaler(device.type, enabled=options.mixed_precision == "fp16")
    if options.gradient_checkpointing:
        backbone.unet.enable_gradient_checkpointing()  # undone by the caller's scope
    slots = torch.tensor([trainables.lora_slot.get(c.key, -1) for c in concepts])
    curves: list[list[float]] = [[] for _ in concepts]
    # The capture stays on through backward: gradient checkpointing re-runs the attention then.
    capture = (
        capture_cross_attention(
            backbone.unet,
            [0],
            layers=options.attention_layers,
            resolution=options.attention_resolution,
            keep_graph=True,
        )
        if phase.attention_weight > 0
        else contextlib.nullcontext()
    )
    with capture as store:
        for step in range(phase.steps):
            batch = draw_batch(
                concepts,
                data,
                gens,
                prompt_fn,
                options.images_per_step,
                scheduler.config.num_train_timesteps,
            )
            per_concept = _step_losses(
                backbone, batch, trainables, phase, options, slots, len(concepts), store
            )
            require_finite(per_concept, f"personalization phase {phase.name}, step {step + 1}")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(per_concept.sum()).backward()
            scaler.step(optimizer)
            scaler.update()
            for k, value in enumerate(per_concept.detach().cpu().tolist()):
                curves[k].append(value)
            last = step + 1 == phase.steps
            if on_chunk is not None and ((step + 1) % options.chunk_steps == 0 or last):
                span = (step % options.chunk_steps) + 1
                on_chunk(step + 1, phase, [sum(c[-span:]) / span for c in curves])
    if trainables.lora is not None:
        trainables.lora.set_index(None)
        trainables.lora_trained = trainables.lora_trained or phase.train_lora
    return curves


def _step_losses(backbone, batch, trainables, phase, options, slots, n_concepts, store=None):
    """(n_concepts,) mean loss of each concept's samples in this step."""
    device = backbone.device
    latents = batch.latents.to(device)
    noise = batch.noise.to(device)
    timesteps = batch.timesteps.to(device)
    noisy = backbone.scheduler.add_noise(latents, noise, timesteps)
    target = diffusion_target(backbone.scheduler, latents, noise, timesteps)
    input_ids = backbone.tokenize([p.text for p in batch.prompts])
    if trainables.lora is not None:  # an untrained LoRA (B = 0) adds nothing: skip its cost
        use = phase.train_lora or trainables.lora_trained
        trainables.lora.set_index(slots[batch.owner].to(device) if use else None)
    positions, valid = token_positions(input_ids.cpu(), batch.prompts, trainables.token_ids)
    if store is not None:
        store.reset()
        store.token_indices = positions
    with _autocast(device, options.mixed_precision):
        text = backbone.text_encoder(input_ids)[0]
        pred = backbone.unet(noisy.to(backbone.dtype), timesteps, text.to(backbone.dtype)).sample
    pred, target = pred.float(), target.float()
    if phase.masked:
        mask = loss_mask(batch, tuple(pred.shape[-2:])).to(device)
        per_sample = ((pred - target) * mask).pow(2).mean(dim=(1, 2, 3))
    else:
        per_sample = F.mse_loss(pred, target, reduction="none").mean(dim=(1, 2, 3))
    if store is not None:
        per_sample = per_sample + phase.attention_weight * attention_loss(
            store.last(), batch, valid
        )
    per_sample = per_sample * batch.weight.to(device)
    owner = batch.owner.to(device)
    sums = torch.zeros(n_concepts, device=device).index_add(0, owner, per_sample)
    counts = torch.zeros(n_concepts, device=device).index_add(0, owner, torch.ones_like(per_sample))
    return sums / counts.clamp(min=1.0)
