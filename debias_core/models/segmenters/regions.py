"""From a segmenter's mask to the region an inpainting edit regenerates.

Latent inpainting (DBB Eq. 2) can only choose whole latent cells: one cell covers `cell` x `cell`
pixels (the VAE's downscale factor). The edit region is therefore the mask, grown by `grow` pixels
(a new object of another class needs room outside the old one's outline: a "7" drawn inside the
strokes of a "0" cannot be a 7), then widened to every latent cell it touches. The generator
inpaints that region and pastes the original pixels back outside it; the `ig-in-mask` scorer sums
its attributions over the same region, so both stages see the same "causal part".
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """An (H, W) bool mask at (size, size), nearest neighbour."""
    if mask.shape == (size, size):
        return mask.astype(bool)
    pil = Image.fromarray(mask.astype(np.uint8) * 255).resize((size, size), Image.NEAREST)
    return np.asarray(pil) > 127


def grow_mask(mask: np.ndarray, grow: int) -> np.ndarray:
    """Dilate by `grow` pixels (a square structuring element)."""
    if grow <= 0:
        return mask.astype(bool)
    x = torch.from_numpy(mask.astype(np.float32))[None, None]
    grown = F.max_pool2d(x, kernel_size=2 * grow + 1, stride=1, padding=grow)
    return grown[0, 0].numpy() > 0.5


def latent_cells(mask: np.ndarray, cell: int) -> np.ndarray:
    """(H / cell, W / cell) bool: the latent cells holding any masked pixel."""
    x = torch.from_numpy(mask.astype(np.float32))[None, None]
    return F.max_pool2d(x, kernel_size=cell, stride=cell)[0, 0].numpy() > 0.5


def edit_region(mask: np.ndarray, size: int, grow: int, cell: int) -> np.ndarray:
    """The (size, size) pixel region an inpainting edit regenerates (see the module docstring).

    `grow` is in pixels of the (size, size) image.
    """
    if size % cell:
        raise ValueError(f"image size {size} is not a multiple of the latent cell {cell}")
    cells = latent_cells(grow_mask(resize_mask(mask, size), grow), cell)
    return np.kron(cells, np.ones((cell, cell), dtype=bool)).astype(bool)


def recipe_region(mask: np.ndarray, params: dict) -> np.ndarray:
    """The edit region a recipe recorded under `params["region"]` ({size, grow, cell}), or the
    mask itself when the recipe inpainted the mask as it is."""
    region = params.get("region")
    if not region:
        return mask
    return edit_region(mask, int(region["size"]), int(region["grow"]), int(region["cell"]))
