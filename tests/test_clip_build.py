"""Pieces of the embedded CLIP's build recipe (scripts/build_embedded_clip.py), at tiny scale."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from debias_core.models.embedded_world import BACKGROUNDS, STROKES

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from build_embedded_clip import (  # noqa: E402
    caption_for,
    multi_positive_loss,
    positives,
    random_affine,
)

RED, BLUE = list(STROKES).index("red"), list(BACKGROUNDS).index("blue")


@pytest.mark.parametrize(
    "u, k, text, named",
    [
        (0.1, 0, "a photo of digit 3, red stroke, on a blue background", (3, RED, BLUE)),
        (0.9, 0, "a photo of digit 3", (3, -1, -1)),
        (0.9, 3, "red stroke", (-1, RED, -1)),
        (0.9, 5, "on a blue background", (-1, -1, BLUE)),
    ],
)
def test_captions_say_what_they_name(u, k, text, named):
    assert caption_for((3, "red", "blue"), u, k, full_fraction=0.5) == (text, named)


def test_a_partial_caption_is_a_positive_for_every_image_it_describes():
    images = torch.tensor([[3, RED, BLUE], [3, RED + 1, BLUE + 1], [4, RED, BLUE]])
    named = torch.tensor([[3, RED, BLUE], [3, -1, -1], [-1, RED, -1]])
    expected = torch.tensor([[True, True, True], [False, True, False], [False, False, True]])
    assert torch.equal(positives(images, named), expected)


def test_with_only_diagonal_pairs_the_loss_is_clips_own():
    from transformers.models.clip.modeling_clip import image_text_contrastive_loss

    logits = torch.randn(5, 5, generator=torch.Generator().manual_seed(0))
    ours = multi_positive_loss(logits, torch.eye(5, dtype=torch.bool))
    assert ours.item() == pytest.approx(image_text_contrastive_loss(logits.T).item(), rel=1e-6)


def test_agreeing_pairs_are_not_pushed_apart():
    # Two images and two identical captions: swapping which caption is "theirs" costs nothing.
    logits = torch.tensor([[5.0, 5.0], [5.0, 5.0]])
    both = torch.ones(2, 2, dtype=torch.bool)
    assert multi_positive_loss(logits, both).item() == pytest.approx(torch.log(torch.tensor(2.0)))
    assert multi_positive_loss(logits, torch.eye(2, dtype=torch.bool)) > 0.69


def test_augmentation_off_is_the_identity_and_on_keeps_the_border_colour():
    pixels = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    gen = torch.Generator().manual_seed(0)
    assert random_affine(pixels, gen, 0.0, 0.0) is pixels
    flat = torch.full((2, 3, 32, 32), 0.25)
    out = random_affine(flat, gen, 15.0, 0.1)
    assert out.shape == flat.shape and torch.allclose(out, flat, atol=1e-5)
