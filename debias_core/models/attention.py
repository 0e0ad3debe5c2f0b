"""Cross-attention capture: record where chosen prompt tokens look, at chosen UNet layers.

Used for Break-A-Scene's cross-attention loss while personalizing, and for display (a token's
map beside its mask) while generating. The capture wraps diffusers' own `AttnProcessor` and only
intercepts the attention probabilities it computes, so the attention maths stays diffusers'.
Outside the `with` block every layer has its original processor object back: nothing changes.

    with capture_cross_attention(unet, token_indices=[[2, 5]], layers=["up"]) as store:
        unet(latents, t, text_states)
    maps = store.last()  # (batch, tokens, h, w), averaged over heads and captured layers
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

CROSS = "attn2"  # diffusers names a transformer block's cross-attention module `attn2`


def cross_attention_layers(unet: torch.nn.Module) -> list[str]:
    """Names of the UNet's cross-attention modules, in forward order (down, mid, up)."""
    return [name for name, _ in unet.named_modules() if name.split(".")[-1] == CROSS]


def _selected(names: list[str], layers: Sequence[str] | None) -> list[str]:
    """Filter layer names by prefixes ("down", "mid", "up", or a full module path)."""
    if layers is None:
        return names
    aliases = {"down": "down_blocks", "mid": "mid_block", "up": "up_blocks"}
    prefixes = [aliases.get(p, p) for p in layers]
    chosen = [n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes)]
    unknown = [p for p in prefixes if not any(n == p or n.startswith(p + ".") for n in names)]
    if unknown:
        raise ValueError(f"no cross-attention layer under {unknown}; layers: {names}")
    return chosen


@dataclass
class AttentionStore:
    """Token attention maps per layer: the latest forward's, and running sums for an average.

    Maps are (batch, tokens, h, w) probabilities averaged over heads. With `keep_graph` they keep
    their autograd history (for a loss); otherwise they are detached (for display).
    """

    token_indices: torch.Tensor  # (batch, tokens) prompt positions, or (1, tokens) for all rows
    resolution: int | None = None  # keep only maps of this side (None: every layer)
    keep_graph: bool = False
    latest: dict[str, torch.Tensor] = field(default_factory=dict)
    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    latent_hw: tuple[int, int] = (0, 0)

    def record(self, layer: str, probs: torch.Tensor, heads: int) -> None:
        """probs: (batch * heads, h * w, text tokens) from diffusers' attention."""
        h, w = self._map_size(probs.shape[1])
        if self.resolution is not None and max(h, w) != self.resolution:
            return
        batch = probs.shape[0] // heads
        probs = probs.reshape(batch, heads, h * w, probs.shape[-1]).mean(dim=1)
        index = self.token_indices.to(probs.device)
        if index.shape[0] != batch:  # one row for all, or a batch doubled for guidance
            index = index.repeat(batch // index.shape[0], 1)
        picked = probs.gather(2, index[:, None, :].expand(-1, h * w, -1))  # (B, hw, K)
        maps = picked.permute(0, 2, 1).reshape(batch, -1, h, w)
        maps = maps if self.keep_graph else maps.detach()
        self.latest[layer] = maps
        total = maps.detach().float()
        self.sums[layer] = self.sums[layer] + total if layer in self.sums else total
        self.counts[layer] = self.counts.get(layer, 0) + 1

    def _map_size(self, tokens: int) -> tuple[int, int]:
        """(h, w) of a layer's map from its query length and the latent's aspect ratio."""
        lh, lw = self.latent_hw
        if not lh:
            side = math.isqrt(tokens)
            return side, tokens // side
        scale = math.sqrt(lh * lw / tokens)
        return max(round(lh / scale), 1), max(round(lw / scale), 1)

    def last(self) -> torch.Tensor:
        """The latest forward's maps, averaged over the captured layers."""
        return _average(list(self.latest.values()))

    def mean(self) -> torch.Tensor:
        """Maps averaged over every recorded forward (e.g. all denoising steps) and layer."""
        return _average([self.sums[k] / self.counts[k] for k in self.sums])

    def reset(self) -> None:
        self.latest.clear()
        self.sums.clear()
        self.counts.clear()


def _average(maps: list[torch.Tensor]) -> torch.Tensor:
    """Mean over layers; layers of other sizes are resized to the largest one first."""
    if not maps:
        raise ValueError("no attention was recorded (wrong layers or resolution?)")
    h = max(m.shape[-2] for m in maps)
    w = max(m.shape[-1] for m in maps)
    same = [
        m if m.shape[-2:] == (h, w) else F.interpolate(m, (h, w), mode="bilinear") for m in maps
    ]
    return torch.stack(same).mean(dim=0)


class CaptureProcessor:
    """diffusers' plain AttnProcessor, with the attention probabilities also handed to a store."""

    def __init__(self, layer: str, store: AttentionStore) -> None:
        from diffusers.models.attention_processor import AttnProcessor

        self.layer, self.store = layer, store
        self.inner = AttnProcessor()

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, *args, **kwargs):
        scores = attn.get_attention_scores

        def recording_scores(query, key, attention_mask=None):
            probs = scores(query, key, attention_mask)
            self.store.record(self.layer, probs, attn.heads)
            return probs

        attn.get_attention_scores = recording_scores  # shadows the method for this call only
        try:
            return self.inner(attn, hidden_states, encoder_hidden_states, *args, **kwargs)
        finally:
            del attn.get_attention_scores


def as_index_tensor(token_indices) -> torch.Tensor:
    """Token positions as a (rows, tokens) long tensor; a flat list applies to every row."""
    index = torch.as_tensor(token_indices, dtype=torch.long)
    return index[None] if index.ndim == 1 else index


@contextmanager
def capture_cross_attention(
    unet: torch.nn.Module,
    token_indices,
    layers: Sequence[str] | None = None,
    resolution: int | None = None,
    keep_graph: bool = False,
) -> Iterator[AttentionStore]:
    """Record the attention of `token_indices` at the chosen cross-attention layers.

    token_indices: positions in the tokenized prompt, a list (same for every sample) or a
    (batch, tokens) tensor. layers: None for all, or prefixes ("down", "mid", "up", module paths).
    resolution: keep only maps with this side (Break-A-Scene uses 16 at 512 px).
    """
    store = AttentionStore(as_index_tensor(token_indices), resolution, keep_graph)
    modules = dict(unet.named_modules())
    names = _selected(cross_attention_layers(unet), layers)
    originals = {name: modules[name].processor for name in names}

    def remember_latent_size(_module, args, kwargs):
        sample = args[0] if args else kwargs["sample"]
        store.latent_hw = tuple(sample.shape[-2:])

    hook = unet.register_forward_pre_hook(remember_latent_size, with_kwargs=True)
    try:
        for name in names:
            # Set the attribute directly: `set_processor` has side effects (e.g. logging).
            modules[name].processor = CaptureProcessor(name, store)
        yield store
    finally:
        hook.remove()
        for name, processor in originals.items():
            modules[name].processor = processor


def default_resolution(sides: Sequence[int], latent_side: int) -> int:
    """Break-A-Scene's choice (16x16 maps for 64x64 latents), or the nearest that exists."""
    target = latent_side // 4
    below = [s for s in sides if s <= target]
    return max(below) if below else min(sides)


def layer_sides(unet: torch.nn.Module, latent_side: int) -> dict[str, int]:
    """The map side of every cross-attention layer, measured with one small forward."""
    cfg = unet.config
    param = next(unet.parameters())
    sample = torch.zeros(1, cfg.in_channels, latent_side, latent_side, dtype=param.dtype)
    text = torch.zeros(1, 2, cfg.cross_attention_dim, dtype=param.dtype)
    with torch.no_grad(), capture_cross_attention(unet, [0]) as store:
        unet(sample.to(param.device), 1, text.to(param.device))
    return {name: m.shape[-1] for name, m in store.latest.items()}


def attention_sides(unet: torch.nn.Module, latent_side: int) -> list[int]:
    """The distinct map sides of the cross-attention layers."""
    return sorted(set(layer_sides(unet, latent_side).values()))


def loss_layers(unet: torch.nn.Module, latent_side: int) -> tuple[int, list[str]]:
    """(side, layer names) for an attention loss: Break-A-Scene's resolution, its layers only
    (the other layers keep their own, faster attention processors)."""
    sides = layer_sides(unet, latent_side)
    side = default_resolution(sorted(set(sides.values())), latent_side)
    return side, [name for name, s in sides.items() if s == side]
