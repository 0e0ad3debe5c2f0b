"""The generative backbone seam: one object bundling tokenizer, text encoder, UNet, VAE, scheduler.

Every generation and personalization method is written against `Backbone`, so the same code runs
on the embedded tiny model (tests, CPU demo) and on Stable Diffusion 2 (GPU). The parts are the
diffusers / transformers classes themselves; this module only adds the few verbs methods share.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from debias_core.models.checkpoints import (
    KNOWN_MODELS,
    REPO_ROOT,
    CheckpointMissing,
    resolve_checkpoint,
)
from debias_core.registry import Registry

LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
EMBEDDED_DIR = REPO_ROOT / "assets" / "tiny-sd"
BUILD_COMMAND = "python scripts/build_embedded_backbone.py --out assets/tiny-sd"
COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")


@dataclass
class PromptEmbeds:
    """Text-encoder states for prompts, and for the negative / empty prompts when asked."""

    cond: torch.Tensor
    uncond: torch.Tensor | None = None

    def for_guidance(self) -> torch.Tensor:
        """`[uncond; cond]`, the batch layout classifier-free guidance expects."""
        if self.uncond is None:
            raise ValueError("encode_prompt(..., negative='') is needed for guidance")
        return torch.cat([self.uncond, self.cond])


def _as_list(texts: str | Sequence[str]) -> list[str]:
    return [texts] if isinstance(texts, str) else list(texts)


@dataclass(eq=False)
class Backbone:
    """A Stable-Diffusion-style model: the real parts plus spec, content hash, device, dtype."""

    tokenizer: object  # transformers.CLIPTokenizer
    text_encoder: torch.nn.Module  # transformers.CLIPTextModel
    unet: torch.nn.Module  # diffusers.UNet2DConditionModel
    vae: torch.nn.Module  # diffusers.AutoencoderKL
    scheduler: object  # a diffusers scheduler (DDIM by default)
    spec: str
    content_hash: str
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def image_size(self) -> int:
        """The native image side in pixels (32 for the embedded model, 512 for SD-2 base)."""
        return self.unet.config.sample_size * self.vae_scale_factor

    def components(self) -> dict:
        return {name: getattr(self, name) for name in COMPONENTS}

    # -- text ---------------------------------------------------------------------------------
    def tokenize(self, prompts: str | Sequence[str]) -> torch.Tensor:
        """Token ids padded / truncated to the text encoder's length."""
        tokens = self.tokenizer(
            _as_list(prompts),
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        )
        return tokens.input_ids.to(self.device)

    def encode_text(self, prompts: str | Sequence[str]) -> torch.Tensor:
        """(B, tokens, dim) last hidden states, the UNet's cross-attention context."""
        return self.text_encoder(self.tokenize(prompts))[0]

    def encode_prompt(
        self, prompts: str | Sequence[str], negative: str | Sequence[str] | None = None
    ) -> PromptEmbeds:
        """Encode prompts; with `negative` ('' for plain guidance) also the unconditional side."""
        prompts = _as_list(prompts)
        cond = self.encode_text(prompts)
        if negative is None:
            return PromptEmbeds(cond)
        negative = _as_list(negative)
        if len(negative) == 1 and len(prompts) > 1:
            negative = negative * len(prompts)
        if len(negative) != len(prompts):
            raise ValueError(f"{len(negative)} negative prompts for {len(prompts)} prompts")
        return PromptEmbeds(cond, self.encode_text(negative))

    def add_tokens(self, tokens: Sequence[str], initializer_tokens: Sequence[str]) -> list[int]:
        """Add new tokens, each embedding initialised from the mean of its initializer word's."""
        if len(tokens) != len(initializer_tokens):
            raise ValueError("one initializer word per new token is needed")
        taken = [t for t in tokens if t in self.tokenizer.get_vocab()]
        if taken:
            raise ValueError(f"tokens already in the vocabulary: {taken}")
        init_ids = [
            self.tokenizer(w, add_special_tokens=False).input_ids for w in initializer_tokens
        ]
        if any(not ids for ids in init_ids):
            raise ValueError(f"an initializer word tokenizes to nothing: {initializer_tokens}")
        self.tokenizer.add_tokens(list(tokens))
        new_ids = self.tokenizer.convert_tokens_to_ids(list(tokens))
        self.text_encoder.resize_token_embeddings(len(self.tokenizer), mean_resizing=False)
        table = self.text_encoder.get_input_embeddings().weight
        with torch.no_grad():
            for new_id, ids in zip(new_ids, init_ids, strict=True):
                table[new_id] = table[ids].mean(dim=0)
        return list(new_ids)

    # -- images -------------------------------------------------------------------------------
    def encode_images(
        self, pixels: torch.Tensor, generator: torch.Generator | None = None, sample: bool = True
    ) -> torch.Tensor:
        """Pixels in [-1, 1] (B, 3, H, W) -> latents scaled for the UNet."""
        dist = self.vae.encode(pixels.to(self.device, self.dtype)).latent_dist
        latents = dist.sample(generator) if sample else dist.mode()
        return latents * self.vae.config.scaling_factor

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents -> pixels in [0, 1] (B, 3, H, W)."""
        pixels = self.vae.decode(latents.to(self.dtype) / self.vae.config.scaling_factor).sample
        return (pixels / 2 + 0.5).clamp(0, 1)

    # -- LoRA ---------------------------------------------------------------------------------
    def attach_lora(
        self,
        adapter_name: str,
        rank: int = 4,
        target_modules: Sequence[str] = LORA_TARGETS,
        alpha: float | None = None,
    ) -> list[torch.nn.Parameter]:
        """Add a peft LoRA adapter to the UNet, make it active; return its trainable parameters."""
        from peft import LoraConfig

        config = LoraConfig(
            r=rank,
            lora_alpha=alpha if alpha is not None else rank,
            init_lora_weights="gaussian",
            target_modules=list(target_modules),
        )
        self.unet.add_adapter(config, adapter_name=adapter_name)
        params = [p for n, p in self.unet.named_parameters() if f".{adapter_name}." in n]
        for p in params:
            p.requires_grad_(True)
        return params

    def adapters(self) -> list[str]:
        return list(getattr(self.unet, "peft_config", {}))

    def set_adapters(self, names: Sequence[str], weights: Sequence[float] | None = None) -> None:
        """Activate these adapters (with optional per-adapter weights) for the next forwards."""
        self.unet.set_adapters(list(names), list(weights) if weights is not None else None)

    def detach_lora(self, adapter_name: str) -> None:
        """Remove one adapter; the UNet computes as before it was attached."""
        self.unet.delete_adapters(adapter_name)

    def save_lora(self, adapter_name: str, out_dir: Path) -> Path:
        """Write `pytorch_lora_weights.safetensors` that `load_lora_weights` in diffusers reads."""
        from diffusers import StableDiffusionPipeline
        from diffusers.utils import convert_state_dict_to_diffusers
        from peft.utils import get_peft_model_state_dict

        state = get_peft_model_state_dict(self.unet, adapter_name=adapter_name)
        metadata = self.unet.peft_config[adapter_name].to_dict()
        StableDiffusionPipeline.save_lora_weights(
            save_directory=str(out_dir),
            unet_lora_layers=convert_state_dict_to_diffusers(state),
            unet_lora_adapter_metadata=metadata,
            safe_serialization=True,
        )
        return Path(out_dir)

    def load_lora(self, in_dir: Path, adapter_name: str) -> None:
        """Load a diffusers LoRA folder (or file) into the UNet as `adapter_name` (made active)."""
        from diffusers import StableDiffusionPipeline as SD

        path = Path(in_dir)
        where = {"weight_name": path.name} if path.is_file() else {}
        folder = path.parent if path.is_file() else path
        # The pipeline class reads (and converts) any diffusers / kohya LoRA file; only the UNet
        # part is loaded, since the seam trains UNet adapters only.
        state, alphas, meta = SD.lora_state_dict(
            str(folder), return_lora_metadata=True, local_files_only=True, **where
        )
        SD.load_lora_into_unet(state, alphas, self.unet, adapter_name=adapter_name, metadata=meta)

    # -- scoped personalization -----------------------------------------------------------------
    @contextmanager
    def scoped(self) -> Iterator[Backbone]:
        """Anything done to the model inside the block is undone on exit.

        The tokenizer is a private copy for the block; the text encoder's and UNet's module trees,
        flags and adapter attributes are restored to the very objects they held (see
        `models.scoped`). Base weights are never written to by the personalization code.
        """
        from debias_core.models.scoped import ModuleSnapshot

        tokenizer = self.tokenizer
        snapshots = [ModuleSnapshot.take(m) for m in (self.text_encoder, self.unet, self.vae)]
        self.tokenizer = copy.deepcopy(tokenizer)
        try:
            yield self
        finally:
            self.tokenizer = tokenizer
            for snapshot in snapshots:
                snapshot.restore()

    @contextmanager
    def personalized(
        self,
        tokens: Mapping[str, torch.Tensor] | Sequence[Path] | None = None,
        adapters: Mapping[str, Path] | Sequence[Path] | None = None,
        adapter_weights: Sequence[float] | None = None,
    ) -> Iterator[Backbone]:
        """Attach learned tokens and LoRA adapters for the block; the pristine model after it.

        tokens: {token: vector (dim,)} or paths of diffusers `learned_embeds.safetensors` files.
        adapters: paths of diffusers LoRA files / folders (or {adapter name: path}); all active,
        with `adapter_weights` (default 1 each).
        """
        with self.scoped():
            if tokens:
                self.load_tokens(tokens)
            named = _named_adapters(adapters)
            for name, path in named.items():
                self.load_lora(path, name)
            if named:
                self.set_adapters(list(named), adapter_weights)
            yield self

    @contextmanager
    def per_sample(
        self,
        tokens: Mapping[str, torch.Tensor] | Sequence[Path] | None = None,
        adapters: Sequence[Path] = (),
        rows: Sequence[int] = (),
        adapter_weights: Sequence[float] | None = None,
    ) -> Iterator[Backbone]:
        """Attach many tokens and LoRAs for the block, each sample with its own adapter.

        Sample i of the next forwards uses `adapters[rows[i]]` (-1: none), so one batch mixes
        concepts in one forward pass; tokens apply wherever a prompt names them. One row per
        sample: the doubled batch of classifier-free guidance repeats them (see AdapterIndex).
        The pristine model after the block.
        """
        from debias_core.models.lora_batched import attach_lora_files, read_lora_file

        bad = [r for r in rows if not -1 <= int(r) < len(adapters)]
        if bad or (adapters and not rows):
            raise ValueError(f"adapter rows {list(rows)[:8]} for {len(adapters)} adapters")
        files = [read_lora_file(path) for path in adapters]  # before the model is touched
        if adapter_weights is not None:  # adapter k at weight w: its scaling times w
            if len(adapter_weights) != len(files):
                raise ValueError(f"{len(adapter_weights)} weights for {len(files)} adapters")
            files = [
                dataclasses.replace(f, scaling=f.scaling * float(w))
                for f, w in zip(files, adapter_weights, strict=True)
            ]
        with self.scoped():
            if tokens:
                self.load_tokens(tokens)
            if files:
                lora = attach_lora_files(self.unet, files)
                lora.set_index(torch.tensor([int(r) for r in rows], device=self.device))
            yield self

    def load_tokens(self, tokens: Mapping[str, torch.Tensor] | Sequence[Path]) -> list[int]:
        """Add tokens with given embeddings (mutates: call inside `scoped` / `personalized`)."""
        from debias_core.models.tokens import load_learned_embeds, taken_names

        if not isinstance(tokens, Mapping):
            files, tokens = list(tokens), {}
            for path in files:
                for token, vector in load_learned_embeds(path).items():
                    if token in tokens:
                        raise ValueError(f"token {token!r} is in two of the files {files}")
                    tokens[token] = vector
        taken = taken_names(self.tokenizer, tokens)
        if taken:
            raise ValueError(f"tokens already in the vocabulary: {taken}")
        self.tokenizer.add_tokens(list(tokens))
        ids = self.tokenizer.convert_tokens_to_ids(list(tokens))
        # A new, larger table replaces the old one (transformers' resize_token_embeddings would
        # swap the data of the old Parameter in place, which a scope could not undo).
        old = self.text_encoder.get_input_embeddings()
        rows = max(len(self.tokenizer), old.num_embeddings)
        table = torch.nn.Embedding(rows, old.embedding_dim, device=old.weight.device)
        table = table.to(old.weight.dtype).requires_grad_(False)
        with torch.no_grad():
            table.weight[: old.num_embeddings] = old.weight
            for token_id, vector in zip(ids, tokens.values(), strict=True):
                table.weight[token_id] = vector.reshape(-1).to(table.weight)
        self.text_encoder.set_input_embeddings(table)
        self.text_encoder.config.vocab_size = rows
        return list(ids)

    def fingerprint(self) -> tuple:
        """Identity of the mutable state (tokenizer, module trees, flags); equal = untouched."""
        from debias_core.models.scoped import module_fingerprint

        modules = tuple(module_fingerprint(m) for m in (self.text_encoder, self.unet, self.vae))
        return id(self.tokenizer), len(self.tokenizer), modules

    # -- pipelines and placement ----------------------------------------------------------------
    def txt2img_pipeline(self):
        """A `StableDiffusionPipeline` sharing this backbone's components (no copies)."""
        from diffusers import StableDiffusionPipeline

        return self._pipeline(StableDiffusionPipeline)

    def inpaint_pipeline(self):
        """A `StableDiffusionInpaintPipeline` over the same components."""
        from diffusers import StableDiffusionInpaintPipeline

        return self._pipeline(StableDiffusionInpaintPipeline)

    def _pipeline(self, cls):
        pipe = cls(
            **self.components(),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def to(self, device: str | torch.device, dtype: torch.dtype | None = None) -> Backbone:
        """Move every module (in place) and return self."""
        self.device, self.dtype = torch.device(device), dtype or self.dtype
        for module in (self.text_encoder, self.unet, self.vae):
            # Pass a dtype only when it changes: diffusers warns on every `.to(dtype)` call.
            same = next(module.parameters()).dtype == self.dtype
            module.to(self.device) if same else module.to(self.device, self.dtype)
        return self

    def enable_memory_savers(self) -> None:
        """Decode one image at a time. Attention already uses torch's SDPA kernels by default."""
        self.vae.enable_slicing()


def _named_adapters(adapters) -> dict[str, Path]:
    if not adapters:
        return {}
    if isinstance(adapters, Mapping):
        return {str(k): Path(v) for k, v in adapters.items()}
    return {f"adapter-{k}": Path(p) for k, p in enumerate(adapters)}


def content_hash(folder: Path) -> str:
    """sha256 over the component files a load reads (configs, tokenizer, non-variant weights)."""
    folder = Path(folder)
    digest = hashlib.sha256()
    files = [folder / "model_index.json"] if (folder / "model_index.json").exists() else []
    for name in COMPONENTS:
        sub = folder / name
        if not sub.is_dir():
            continue
        found = sorted(p for p in sub.iterdir() if p.is_file() and p.suffix in (".json", ".txt"))
        weights = sorted(p for p in sub.glob("*.safetensors") if p.name.count(".") == 1)
        found += weights or sorted(p for p in sub.glob("*.bin") if p.name.count(".") == 1)
        files += found
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode())
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


# Spec name -> a function returning the local diffusers-format folder (or raising
# CheckpointMissing). UI dropdowns read BACKBONES.names().
BACKBONES: Registry[Callable[[], Path]] = Registry("backbone")


@BACKBONES.register("embedded")
def embedded_folder() -> Path:
    if not (EMBEDDED_DIR / "model_index.json").exists():
        searched = [f"folder {EMBEDDED_DIR} (no model_index.json)"]
        raise CheckpointMissing("embedded", "the embedded tiny backbone", searched, BUILD_COMMAND)
    return EMBEDDED_DIR


def _hub_backbone(spec: str, model_id: str, what: str) -> None:
    BACKBONES.register(spec)(lambda: resolve_checkpoint(model_id, what=what))


_hub_backbone("sd2", KNOWN_MODELS["sd2"], "the sd2 generative backbone")
_hub_backbone("sd2-1", KNOWN_MODELS["sd2-1"], "the sd2-1 generative backbone")
_hub_backbone("sd2-inpainting", KNOWN_MODELS["sd2-inpainting"], "the sd2 inpainting backbone")


def backbone_folder(spec: str) -> Path:
    """The folder a spec names: a registered spec, a diffusers-format folder, or a hub id."""
    if spec in BACKBONES:
        return BACKBONES.get(spec)()
    folder = Path(spec).expanduser()
    if folder.is_dir():
        if not (folder / "model_index.json").is_file():  # e.g. --backbone /etc
            raise ValueError(
                f"backbone folder {spec!r} is not a diffusers-format model (no model_index.json)"
            )
        return folder
    if "/" not in spec:
        valid = ", ".join(BACKBONES.names())
        raise ValueError(f"unknown backbone {spec!r}; valid: {valid}, or a diffusers folder path")
    return resolve_checkpoint(spec, what=f"the generative backbone {spec}")


def load_backbone(
    spec: str, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> Backbone:
    """Load a backbone from local files only; missing or incomplete raises CheckpointMissing."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    folder = backbone_folder(spec)
    local = {"local_files_only": True}
    try:
        tokenizer = CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer", **local)
        text_encoder = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", **local)
        unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", **local)
        vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", **local)
        # DDIM (eta 0) is deterministic given the initial noise, which makes recipes replayable.
        scheduler = DDIMScheduler.from_pretrained(folder, subfolder="scheduler", **local)
    except OSError as exc:
        searched = [f"folder {folder} (incomplete: {str(exc).splitlines()[0]})"]
        model_id = KNOWN_MODELS.get(spec, spec)
        command = f"hf download {model_id} --local-dir {folder}"
        command = BUILD_COMMAND if spec == "embedded" else command
        raise CheckpointMissing(model_id, "a generative backbone", searched, command) from None
    for module in (text_encoder, unet, vae):
        module.requires_grad_(False).eval()
    backbone = Backbone(
        tokenizer, text_encoder, unet, vae, scheduler, spec=spec, content_hash=content_hash(folder)
    )
    return backbone.to(device, dtype)
