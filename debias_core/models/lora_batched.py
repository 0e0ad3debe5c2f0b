"""Many LoRA adapters in one batch: each sample gathers its own A and B by an adapter index.

peft activates one adapter set for a whole forward, so training N concepts' LoRAs with peft means
N forwards. `BatchedLoRALinear` keeps N adapters as stacked tensors A (N, r, in), B (N, out, r)
and applies to sample i the adapter `index[i]` (-1: none), so one forward trains them all:

    y_i = W x_i + (alpha / r) * B[index_i] A[index_i] x_i

which is exactly peft's LoRA formula per sample. Each adapter exports as a plain peft / diffusers
LoRA (`lora_A.weight` (r, in), `lora_B.weight` (out, r)) that stock `load_lora_weights` reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from debias_core.models.backbone import LORA_TARGETS

LORA_FILE = "pytorch_lora_weights.safetensors"


@dataclass
class AdapterIndex:
    """Which adapter each sample of the next forwards uses (shared by every batched layer)."""

    index: torch.Tensor | None = None  # (batch,) long; -1 = the base model only

    def rows(self, batch: int, device: torch.device) -> torch.Tensor | None:
        if self.index is None:
            return None
        index = self.index.to(device)
        if len(index) != batch:  # e.g. the doubled batch of classifier-free guidance
            if batch % len(index):
                raise ValueError(f"adapter index of {len(index)} rows for a batch of {batch}")
            index = index.repeat(batch // len(index))
        return index


class BatchedLoRALinear(torch.nn.Module):
    """A frozen Linear plus N low-rank adapters, one chosen per sample."""

    def __init__(
        self, base: torch.nn.Linear, a: torch.Tensor, rank: int, alpha: float, index: AdapterIndex
    ) -> None:
        super().__init__()
        self.base = base
        n, device = a.shape[0], base.weight.device
        # Trained in float32 whatever the frozen base's dtype (bf16 Adam updates lose too much);
        # cast to the activations' dtype in forward.
        self.lora_A = torch.nn.Parameter(a.to(device, torch.float32))
        self.lora_B = torch.nn.Parameter(torch.zeros(n, base.out_features, rank, device=device))
        self.scaling = alpha / rank
        self.adapter_index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        index = self.adapter_index.rows(x.shape[0], x.device)
        if index is None:
            return y
        chosen = index.clamp(min=0)
        flat = x.reshape(x.shape[0], -1, x.shape[-1])  # (B, L, in)
        a = self.lora_A[chosen].to(x.dtype)  # (B, r, in)
        b = self.lora_B[chosen].to(x.dtype)  # (B, out, r)
        delta = torch.bmm(torch.bmm(flat, a.transpose(1, 2)), b.transpose(1, 2))
        gate = ((index >= 0).to(x.dtype) * self.scaling)[:, None, None]
        return y + (delta * gate).reshape(y.shape)


def lora_target_names(unet: torch.nn.Module, targets: Sequence[str] = LORA_TARGETS) -> list[str]:
    """Module paths peft would wrap for these target names (suffix match), sorted."""
    names = [
        name
        for name, module in unet.named_modules()
        if isinstance(module, torch.nn.Linear) and any(name.endswith("." + t) for t in targets)
    ]
    return sorted(names)


def _set_submodule(root: torch.nn.Module, path: str, module: torch.nn.Module) -> None:
    parent, _, leaf = path.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, module)


@dataclass
class BatchedLoRA:
    """N adapters attached to a UNet; set `index` before each forward."""

    layers: dict[str, BatchedLoRALinear]
    rank: int
    alpha: float
    targets: tuple[str, ...]
    adapter_index: AdapterIndex = field(default_factory=AdapterIndex)

    def set_index(self, index: torch.Tensor | None) -> None:
        self.adapter_index.index = index

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for layer in self.layers.values() for p in (layer.lora_A, layer.lora_B)]

    def state_dict_of(self, k: int) -> dict[str, torch.Tensor]:
        """Adapter k in peft's key layout (what `get_peft_model_state_dict` returns)."""
        out = {}
        for name, layer in self.layers.items():
            out[f"{name}.lora_A.weight"] = layer.lora_A[k].detach().float().cpu().contiguous()
            out[f"{name}.lora_B.weight"] = layer.lora_B[k].detach().float().cpu().contiguous()
        return out

    def peft_metadata(self) -> dict:
        from peft import LoraConfig

        config = LoraConfig(
            r=self.rank,
            lora_alpha=self.alpha,
            init_lora_weights="gaussian",
            target_modules=list(self.targets),
        )
        return config.to_dict()

    def save(self, k: int, out_dir: Path) -> Path:
        """Write adapter k as `pytorch_lora_weights.safetensors` that diffusers loads."""
        return save_lora_file(self.state_dict_of(k), self.peft_metadata(), out_dir)


def save_lora_file(state: dict[str, torch.Tensor], metadata: dict, out_dir: Path) -> Path:
    """A peft-layout UNet LoRA state dict -> diffusers' `pytorch_lora_weights.safetensors`."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers

    StableDiffusionPipeline.save_lora_weights(
        save_directory=str(out_dir),
        unet_lora_layers=convert_state_dict_to_diffusers(state),
        unet_lora_adapter_metadata=metadata,
        safe_serialization=True,
    )
    return Path(out_dir) / LORA_FILE


def attach_batched_lora(
    unet: torch.nn.Module,
    generators: Sequence[torch.Generator],
    rank: int = 4,
    alpha: float | None = None,
    targets: Sequence[str] = LORA_TARGETS,
) -> BatchedLoRA:
    """Wrap the target Linears with N = len(generators) adapters (in place: use inside a scope).

    Adapter k's A is drawn from generators[k] (peft's "gaussian" init, std 1/r), B starts at 0,
    so each adapter starts where a lone peft adapter with that seed would.
    """
    alpha = float(alpha if alpha is not None else rank)
    index = AdapterIndex()
    names = lora_target_names(unet, targets)
    if not names:
        raise ValueError(f"no Linear module named {list(targets)} in the UNet")
    modules = dict(unet.named_modules())
    inits = {name: [] for name in names}
    for gen in generators:  # per adapter, all layers in a fixed order: independent of N
        for name in names:
            shape = (rank, modules[name].in_features)
            inits[name].append(torch.randn(shape, generator=gen) / rank)
    layers = {}
    for name in names:
        layer = BatchedLoRALinear(modules[name], torch.stack(inits[name]), rank, alpha, index)
        _set_submodule(unet, name, layer)
        layers[name] = layer
    return BatchedLoRA(layers, rank, alpha, tuple(targets), index)
