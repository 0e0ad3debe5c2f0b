"""CLIP image-text models behind one small wrapper: the embedded tiny CLIP and real checkpoints.

The same transformers classes load both (`CLIPModel`, `CLIPTokenizer`, the CLIP image processor),
from a folder laid out like a Hugging Face CLIP repository, with `local_files_only`. Specs:

- `embedded`: `assets/tiny-clip`, trained on the Colored Digits world pool by
  `scripts/build_embedded_clip.py` (it knows every digit x stroke x background caption);
- `vit-b-32`, `vit-l-14`: `openai/clip-vit-base-patch32` / `openai/clip-vit-large-patch14`
  from `$DEBIAS_CHECKPOINTS` or the Hugging Face cache;
- a folder path, or any hub id that is already on this machine.

Used for embeddings (the `clip` feature extractor), CLIP-Label / CLIP-Centroid scores and
clustering; `content_hash` keys every cached result to the exact weights.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from debias_core.models.checkpoints import (
    KNOWN_MODELS,
    REPO_ROOT,
    CheckpointMissing,
    resolve_checkpoint,
)

EMBEDDED_CLIP_DIR = REPO_ROOT / "assets" / "tiny-clip"
BUILD_COMMAND = "python scripts/build_embedded_clip.py --out assets/tiny-clip --seed 0"
CLIP_MODELS = {
    "vit-b-32": KNOWN_MODELS["clip"],
    "vit-l-14": KNOWN_MODELS["clip-large"],
}
# What a load reads; the hash covers exactly these, so two folders with equal files hash equal.
HASHED_SUFFIXES = (".json", ".txt", ".safetensors")


@dataclass(frozen=True)
class ZeroShot:
    """Zero-shot classification of images over prompts: probabilities and the argmax."""

    probabilities: np.ndarray  # (N, T), rows sum to 1
    predictions: np.ndarray  # (N,) index of the best prompt


@dataclass
class Clip:
    """A CLIP model with its tokenizer and image processor; embeddings are L2-normalised."""

    model: torch.nn.Module
    tokenizer: object
    processor: object
    spec: str
    content_hash: str
    device: torch.device
    dtype: torch.dtype = torch.float32

    @property
    def image_size(self) -> int:
        """The square input size of the vision tower (the processor's crop size)."""
        return int(self.model.config.vision_config.image_size)

    @property
    def dim(self) -> int:
        return int(self.model.config.projection_dim)

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.exp())

    @torch.no_grad()
    def image_embeddings(self, images, batch_size: int = 256) -> np.ndarray:
        """uint8 images (N, H, W, 3), or a list of arrays / PIL images -> float32 (N, D)."""
        images = list(images)
        parts = []
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            pixels = self.processor(images=chunk, return_tensors="pt").pixel_values
            pixels = pixels.to(self.device, self.dtype)
            features = self.model.get_image_features(pixel_values=pixels).pooler_output
            parts.append(_normalise(features))
        return _stack(parts, self.dim)

    @torch.no_grad()
    def text_embeddings(self, texts: str | Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Prompts -> float32 (T, D)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        parts = []
        for start in range(0, len(texts), batch_size):
            tokens = self.tokenizer(
                texts[start : start + batch_size],
                padding="max_length",
                max_length=self.tokenizer.model_max_length,
                truncation=True,
                return_tensors="pt",
            )
            features = self.model.get_text_features(
                input_ids=tokens.input_ids.to(self.device),
                attention_mask=tokens.attention_mask.to(self.device),
            ).pooler_output
            parts.append(_normalise(features))
        return _stack(parts, self.dim)

    def similarity(self, images, texts: str | Sequence[str]) -> np.ndarray:
        """Cosine similarity (N images, T texts), in [-1, 1]."""
        return self.image_embeddings(images) @ self.text_embeddings(texts).T

    def zero_shot(self, images, prompts: Sequence[str]) -> ZeroShot:
        """Softmax over prompts of the scaled cosine similarities, as CLIP classifies."""
        return zero_shot_from_embeddings(
            self.image_embeddings(images), self.text_embeddings(prompts), self.logit_scale
        )


def zero_shot_from_embeddings(
    image_embeds: np.ndarray, text_embeds: np.ndarray, logit_scale: float
) -> ZeroShot:
    logits = logit_scale * (np.asarray(image_embeds) @ np.asarray(text_embeds).T)
    logits = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    return ZeroShot(probs.astype(np.float32), probs.argmax(axis=1))


def _normalise(features: torch.Tensor) -> np.ndarray:
    features = features.float()
    return (features / features.norm(dim=-1, keepdim=True).clamp_min(1e-12)).cpu().numpy()


def _stack(parts: list[np.ndarray], dim: int) -> np.ndarray:
    return np.concatenate(parts).astype(np.float32) if parts else np.empty((0, dim), np.float32)


# -- finding and hashing the files ---------------------------------------------------------------
def clip_folder(spec: str) -> Path:
    """The local folder a spec names; a missing checkpoint raises CheckpointMissing."""
    spec = str(spec).strip() or "embedded"
    if spec == "embedded":
        if not (EMBEDDED_CLIP_DIR / "config.json").exists():
            searched = [f"folder {EMBEDDED_CLIP_DIR} (no config.json)"]
            raise CheckpointMissing("embedded", "the embedded tiny CLIP", searched, BUILD_COMMAND)
        return EMBEDDED_CLIP_DIR
    model = CLIP_MODELS.get(spec, spec)
    return resolve_checkpoint(model, what=f"the CLIP model {spec!r}")


def _hashed_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in HASHED_SUFFIXES)
    if not any(p.suffix == ".safetensors" for p in files):  # older repos ship only .bin weights
        files += sorted(folder.glob("*.bin"))
    return files


def content_hash(folder: Path) -> str:
    """sha256 over the files a load reads (configs, tokenizer, weights), names included."""
    folder = Path(folder)
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in _hashed_files(folder))
    return _content_hash(str(folder.resolve()), stamp)


@functools.lru_cache(maxsize=16)
def _content_hash(folder: str, stamp: tuple) -> str:
    """Cached per (folder, file sizes and times): a real CLIP's weights are 0.6-1.7 GB."""
    digest = hashlib.sha256()
    for name, _, _ in stamp:
        digest.update(name.encode())
        with open(os.path.join(folder, name), "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


# -- loading -------------------------------------------------------------------------------------
def load_clip(
    spec: str = "embedded", device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> Clip:
    """Load a CLIP from local files only; missing or incomplete raises CheckpointMissing."""
    from transformers import CLIPImageProcessorPil, CLIPModel, CLIPTokenizer

    folder = clip_folder(spec)
    local = {"local_files_only": True}
    try:
        tokenizer = CLIPTokenizer.from_pretrained(folder, **local)
        # The PIL processor is what transformers uses without torchvision; naming it avoids
        # the fallback warning. Same resize / crop / normalisation as CLIP's own.
        processor = CLIPImageProcessorPil.from_pretrained(folder, **local)
        model = CLIPModel.from_pretrained(folder, dtype=dtype, **local)
    except OSError as exc:
        searched = [f"folder {folder} (incomplete: {str(exc).splitlines()[0]})"]
        model_id = CLIP_MODELS.get(spec, spec)
        command = BUILD_COMMAND if spec == "embedded" else f"hf download {model_id}"
        raise CheckpointMissing(model_id, "a CLIP model", searched, command) from None
    model.requires_grad_(False).eval().to(device)
    return Clip(
        model, tokenizer, processor, spec, content_hash(folder), torch.device(device), dtype
    )


@functools.lru_cache(maxsize=2)
def cached_clip(spec: str = "embedded", device: str = "cpu") -> Clip:
    """One loaded CLIP per (spec, device) per process: loaded on first use, never mutated."""
    return load_clip(spec, device)
