"""Pieces of the embedded backbone's build recipe (scripts/), checked at a tiny scale."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

from debias_core.models.embedded_world import BACKGROUNDS, STROKES, full_caption

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from build_embedded_backbone import BuildConfig, make_models  # noqa: E402
from embedded_training import WorldSampler, _named_attributes, pretrain_text_encoder  # noqa: E402

RED, BLUE = list(STROKES).index("red"), list(BACKGROUNDS).index("blue")


@pytest.mark.parametrize(
    "caption, expected",
    [
        (full_caption(3, "red", "blue"), [3, RED, BLUE]),
        ("a photo of digit 3", [3, -1, -1]),
        ("red stroke, on a blue background", [-1, RED, BLUE]),
        ("on a blue background", [-1, -1, BLUE]),
        ("", [-1, -1, -1]),
    ],
)
def test_named_attributes_reads_only_what_the_caption_names(caption, expected):
    assert _named_attributes(caption, (3, "red", "blue")) == expected


def test_shape_first_sampler_keeps_the_world_pool_and_its_combinations():
    combos = [(d, "white", "black") for d in range(10)]
    everything, shapes = WorldSampler(0), WorldSampler(0, combos, stream=1)
    assert torch.equal(everything.bank, shapes.bank)  # same digits, so no task-pool leak
    pixels, picks = shapes.render(16)
    assert {shapes.combos[p] for p in picks} <= set(combos)
    corners = pixels[:, :, 0, 0]  # the 4 px margin is background: black is -1 after scaling
    assert torch.all(corners == -1.0)
    first = WorldSampler(0, combos, stream=1).render(4)[0]
    assert torch.equal(first, WorldSampler(0, combos, stream=1).render(4)[0])
    assert not torch.equal(first, WorldSampler(0, combos, stream=2).render(4)[0])


def test_text_encoder_pretraining_learns_the_named_attributes_then_freezes():
    from debias_core.models.clip_bpe import clip_tokenizer_in_memory
    from debias_core.models.embedded_world import caption_corpus

    torch.manual_seed(0)
    tokenizer = clip_tokenizer_in_memory(caption_corpus(), 32)
    _, _, text_encoder = make_models(len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id)
    chance = math.log(10) + math.log(len(STROKES)) + math.log(len(BACKGROUNDS))
    cfg = BuildConfig(text_steps=60)
    loss = pretrain_text_encoder(text_encoder, tokenizer, WorldSampler(0), cfg, lambda _: None)
    assert loss < 0.3 * chance, loss
    assert not any(p.requires_grad for p in text_encoder.parameters())
    assert not text_encoder.training
