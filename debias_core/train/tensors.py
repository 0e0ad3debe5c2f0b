"""Load samples from the store once, as tensors (no per-sample Python work in the hot loop)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from debias_core.store import SampleFilter, Store
from debias_core.store.images import open_rgb

# Normalising with fixed statistics keeps real and generated images on the same scale.
MEAN = torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1)
STD = torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1)


@dataclass(frozen=True)
class Tensors:
    """Images (N, 3, H, W) normalised to [-1, 1], labels, attributes and sample ids."""

    x: torch.Tensor
    y: torch.Tensor
    a: torch.Tensor
    ids: torch.Tensor
    synthetic: torch.Tensor  # bool: generated sample
    # multi-label data: (N, L) float 0/1 targets over the project's label space; else None
    targets: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def _fields(self) -> tuple:
        return (self.x, self.y, self.a, self.ids, self.synthetic, self.targets)

    def subset(self, index: torch.Tensor | np.ndarray) -> Tensors:
        index = torch.as_tensor(index, dtype=torch.long)
        return Tensors(*(None if t is None else t[index] for t in self._fields()))

    def to(self, device: str | torch.device) -> Tensors:
        return Tensors(*(None if t is None else t.to(device) for t in self._fields()))

    @staticmethod
    def concat(parts: list[Tensors]) -> Tensors:
        parts = [p for p in parts if p is not None and len(p)]
        fields = ("x", "y", "a", "ids", "synthetic", "targets")
        if any(p.targets is None for p in parts):  # single-label, or a part without label sets
            fields = fields[:-1]
        return Tensors(*(torch.cat([getattr(p, f) for p in parts]) for f in fields))


def _read_images(paths: list[Path], size: int) -> np.ndarray:
    out = np.empty((len(paths), size, size, 3), np.uint8)
    for k, path in enumerate(paths):
        im = open_rgb(path)  # 16-bit files are scaled to 8 bits, not clipped
        if im.size != (size, size):
            im = im.resize((size, size), Image.BILINEAR)
        out[k] = np.asarray(im)
    return out


def load_tensors(
    store: Store, where: SampleFilter, image_size: int = 32, multilabel: bool = False
) -> Tensors:
    """Decode the selected samples once; decoded pixels are cached under the project's cache/.
    `multilabel` also reads each sample's label set as `targets`."""
    samples = store.list_samples(where)
    if not samples:
        n_labels = len(store.label_names())
        return Tensors(
            torch.empty(0, 3, image_size, image_size),
            *(torch.empty(0, dtype=torch.long) for _ in range(3)),
            torch.empty(0, dtype=torch.bool),
            torch.empty(0, n_labels) if multilabel else None,
        )
    key = hashlib.sha256(("|".join(s.sha256 for s in samples) + f"@{image_size}").encode())
    cache = store.root / "cache" / f"pixels-{key.hexdigest()[:24]}.npy"
    if cache.exists():
        pixels = np.load(cache)
    else:
        pixels = _read_images([store.sample_path(s) for s in samples], image_size)
        cache.parent.mkdir(exist_ok=True)
        tmp = cache.with_suffix(".tmp.npy")
        np.save(tmp, pixels)
        tmp.replace(cache)
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div(255.0)
    ids = [s.id for s in samples]
    return Tensors(
        x=(x - MEAN) / STD,
        y=torch.tensor([s.y for s in samples]),
        a=torch.tensor([s.a for s in samples]),
        ids=torch.tensor(ids),
        synthetic=torch.tensor([s.source == "generated" for s in samples]),
        targets=torch.from_numpy(store.label_matrix(ids)) if multilabel else None,
    )


def to_pixels(x: torch.Tensor) -> torch.Tensor:
    """Undo the normalisation: back to [0, 1] RGB."""
    return (x * STD.to(x.device) + MEAN.to(x.device)).clamp(0, 1)
