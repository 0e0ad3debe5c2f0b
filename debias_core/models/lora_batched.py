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
    """Which adapter each sample of the next forwards uses (shared by every batched layer).

    A forward of k x B rows (classifier-free guidance's [uncond; cond], an asymmetric h-space
    edit's extra copy) repeats the B indices block by block, so both halves of a sample carry
    its adapter: the layout the loop builds with `torch.cat([latents] * 2)`.
    """

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


# -- many finished LoRA files at once, for sampling ----------------------------------------------
@dataclass(frozen=True)
class LoraFile:
    """One UNet LoRA read from a diffusers / peft file: {module path: (A (r, in), B (out, r))}
    and the factor peft multiplies B A x by (lora_alpha / r)."""

    weights: dict[str, tuple[torch.Tensor, torch.Tensor]]
    scaling: float


UNSUPPORTED = ("use_dora", "use_rslora")


def read_lora_file(path: Path) -> LoraFile:
    """A LoRA file (or folder) as `Backbone.load_lora` reads it, without touching a model.

    Only plain LoRA is batched: DoRA, rsLoRA and per-layer rank / alpha patterns are refused with
    a message (load those one at a time with `Backbone.personalized`).
    """
    from diffusers import StableDiffusionPipeline as SD

    path = Path(path)
    where = {"weight_name": path.name} if path.is_file() else {}
    folder = path.parent if path.is_file() else path
    state, alphas, meta = SD.lora_state_dict(
        str(folder), return_lora_metadata=True, local_files_only=True, **where
    )
    meta = {k.removeprefix("unet."): v for k, v in (meta or {}).items()}
    odd = [k for k in UNSUPPORTED if meta.get(k)]
    odd += [k for k in ("rank_pattern", "alpha_pattern") if meta.get(k)]
    if odd or alphas:
        raise ValueError(f"{path}: {odd or 'network alphas'} cannot be batched per sample")
    down, up = {}, {}
    for key, tensor in state.items():
        name = key.removeprefix("unet.")
        for suffix, into in ((".lora.down.weight", down), (".lora_A.weight", down)):
            if name.endswith(suffix):
                into[name.removesuffix(suffix)] = tensor
        for suffix, into in ((".lora.up.weight", up), (".lora_B.weight", up)):
            if name.endswith(suffix):
                into[name.removesuffix(suffix)] = tensor
    if not down or set(down) != set(up) or len(down) + len(up) != len(state):
        raise ValueError(f"{path}: not a UNet-only LoRA file (keys like {next(iter(state))!r})")
    rank = int(meta.get("r") or next(iter(down.values())).shape[0])
    scaling = float(meta.get("lora_alpha") or rank) / rank
    return LoraFile({name: (down[name], up[name]) for name in sorted(down)}, scaling)


def attach_lora_files(unet: torch.nn.Module, files: Sequence[LoraFile]) -> BatchedLoRA:
    """Stack finished LoRAs into batched layers (in place: use inside a scope); adapter k is
    files[k]. Ranks are zero-padded to the largest one and each file's scaling is folded into its
    B, so sample i computes W x + s_k B_k A_k x with k = index[i], as peft does for one adapter;
    a layer a file does not adapt gets zeros there."""
    if not files:
        raise ValueError("no LoRA file to attach")
    modules = dict(unet.named_modules())
    names = sorted({name for f in files for name in f.weights})
    unknown = [n for n in names if not isinstance(modules.get(n), torch.nn.Linear)]
    if unknown:
        raise ValueError(f"the LoRA adapts {unknown[:3]}, which are not Linear layers of this UNet")
    rank = max(a.shape[0] for f in files for a, _ in f.weights.values())
    index, layers = AdapterIndex(), {}
    for name in names:
        base = modules[name]
        a = torch.zeros(len(files), rank, base.in_features)
        b = torch.zeros(len(files), base.out_features, rank)
        for k, f in enumerate(files):
            if name in f.weights:
                down, up = f.weights[name]
                a[k, : down.shape[0]] = down.float()
                b[k, :, : up.shape[1]] = up.float() * f.scaling
        layer = BatchedLoRALinear(base, a, rank, float(rank), index)  # scaling 1: folded into B
        with torch.no_grad():
            layer.lora_B.copy_(b.to(layer.lora_B.device))
        layer.requires_grad_(False)  # sampling only
        _set_submodule(unet, name, layer)
        layers[name] = layer
    return BatchedLoRA(layers, rank, float(rank), LORA_TARGETS, index)
