"""Random image augmentation of training batches: `TrainConfig.augment` names one.

Applied inside the training loop to image batches only (a head-only stage trains on cached
features and is not augmented), from its own generator seeded by the run's seed, so switching it
on leaves the batch order unchanged and a run stays reproducible.

`affine` is the usual digit augmentation: up to 15 degrees of rotation, 0.3 of horizontal shear,
10% of scale and 2 of 32 pixels of shift, each drawn per image, with the border colour filling
the corners. Writers slant and size their digits differently; a classifier pretrained on upright
generated digits then meets slanted real ones (Colored Digits `slant` is sheared by 0.35, just
past this range).
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
import torch.nn.functional as F

from debias_core.registry import Registry

ROTATE_DEGREES = 15.0
SHEAR = 0.3
RESCALE = 0.1
SHIFT = 2 / 32  # a fraction of the image width (affine_grid's coordinates span 2)
AUGMENT_SEED_OFFSET = 7_919  # its generator is not the batch order's


class Augment(Protocol):
    def __call__(self, images: torch.Tensor, gen: torch.Generator) -> torch.Tensor: ...


IMAGE_AUGMENTATIONS: Registry[Augment] = Registry("image augmentation")


@IMAGE_AUGMENTATIONS.register("none")
def no_augmentation(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return images


def uniform(n: int, half_width: float, gen: torch.Generator) -> torch.Tensor:
    return (torch.rand(n, generator=gen, dtype=torch.float64) * 2 - 1) * half_width


def affine_matrices(n: int, gen: torch.Generator) -> torch.Tensor:
    """(n, 2, 3) output-to-input maps: rotation, shear, scale and shift drawn per image."""
    angle = uniform(n, math.radians(ROTATE_DEGREES), gen)
    shear = uniform(n, SHEAR, gen)
    scale = 1 + uniform(n, RESCALE, gen)
    shift = uniform(2 * n, SHIFT * 2, gen).reshape(n, 2)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotation = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
    shearing = torch.eye(2, dtype=torch.float64).repeat(n, 1, 1)
    shearing[:, 0, 1] = shear  # input x moves with the row: a slant
    linear = rotation @ shearing / scale[:, None, None]
    return torch.cat([linear, shift[:, :, None]], 2)


@IMAGE_AUGMENTATIONS.register("affine")
def random_affine(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    theta = affine_matrices(len(images), gen).to(images.device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def augmenter(name: str, seed: int):
    """`augment(images)` for one run, or None when the run does not augment."""
    if name == "none":
        return None
    augment = IMAGE_AUGMENTATIONS.get(name)
    gen = torch.Generator().manual_seed(seed + AUGMENT_SEED_OFFSET)
    return lambda images: augment(images, gen) if images.dim() == 4 else images
