"""The CLIP seam: the shipped tiny CLIP, real checkpoints from the HF cache, clear misses."""

from __future__ import annotations

import numpy as np
import pytest
from clip_helpers import tiny_random_clip_folder as _tiny_random_clip_folder

from debias_core.models.checkpoints import CheckpointMissing
from debias_core.models.clip import (
    EMBEDDED_CLIP_DIR,
    content_hash,
    load_clip,
    zero_shot_from_embeddings,
)


def test_zero_shot_is_a_softmax_over_scaled_cosines():
    images = np.array([[1.0, 0.0], [0.6, 0.8]])
    texts = np.array([[1.0, 0.0], [0.0, 1.0]])
    result = zero_shot_from_embeddings(images, texts, logit_scale=10.0)
    # Row 1: logits (6, 8) -> softmax (1 / (1 + e^2), e^2 / (1 + e^2)).
    expected = np.array([[1 / (1 + np.exp(-10)), 1 / (1 + np.exp(10))], [0.0, 0.0]])
    expected[1] = [1 / (1 + np.exp(2)), np.exp(2) / (1 + np.exp(2))]
    np.testing.assert_allclose(result.probabilities, expected, rtol=1e-6)
    assert result.predictions.tolist() == [0, 1]


def test_embedded_clip_reads_digits_and_colours_of_real_renders():
    from debias_core.data.colored_digits import load_pools, render
    from debias_core.models.embedded_world import BACKGROUNDS, STROKES

    clip = load_clip("embedded")
    assert clip.content_hash == content_hash(EMBEDDED_CLIP_DIR) and clip.image_size == 32
    _, task = load_pools(0)  # digits the CLIP never saw
    picks = [int(np.flatnonzero(task.digits == d)[0]) for d in (0, 3, 7)]
    colours = [("red", "black"), ("white", "blue"), ("yellow", "purple")]
    images = np.stack(
        [
            render(task.images[i], STROKES[s], BACKGROUNDS[b])[0]
            for i, (s, b) in zip(picks, colours, strict=True)
        ]
    )
    embeds = clip.image_embeddings(images)
    assert embeds.shape == (3, clip.dim)
    np.testing.assert_allclose(np.linalg.norm(embeds, axis=1), 1.0, rtol=1e-5)
    digits = clip.zero_shot(images, [f"a photo of digit {d}" for d in range(10)])
    strokes = clip.zero_shot(images, [f"{s} stroke" for s in STROKES])
    backgrounds = clip.zero_shot(images, [f"on a {b} background" for b in BACKGROUNDS])
    assert digits.predictions.tolist() == [0, 3, 7]
    assert [list(STROKES)[k] for k in strokes.predictions] == ["red", "white", "yellow"]
    assert [list(BACKGROUNDS)[k] for k in backgrounds.predictions] == ["black", "blue", "purple"]
    sims = clip.similarity(images, "a photo of digit 3, white stroke, on a blue background")
    assert sims.shape == (3, 1) and sims[:, 0].argmax() == 1


def test_a_real_checkpoint_loads_from_the_hf_cache_offline(tmp_path, monkeypatch):
    snapshot = tmp_path / "hub" / "models--openai--clip-vit-base-patch32" / "snapshots" / "abc123"
    _tiny_random_clip_folder(snapshot)
    refs = snapshot.parent.parent / "refs"
    refs.mkdir()
    (refs / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("DEBIAS_CHECKPOINTS", str(tmp_path / "none"))
    clip = load_clip("vit-b-32")
    assert clip.spec == "vit-b-32" and clip.dim == 8 and clip.image_size == 16
    images = np.random.default_rng(0).integers(0, 256, (2, 40, 30, 3), dtype=np.uint8)
    assert clip.image_embeddings(images).shape == (2, 8)  # resized + cropped by its processor
    assert clip.text_embeddings(["a photo of a cat", "a dog"]).shape == (2, 8)
    assert clip.content_hash == content_hash(snapshot)


def test_missing_real_checkpoint_names_the_model_and_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("DEBIAS_CHECKPOINTS", str(tmp_path / "ckpt"))
    with pytest.raises(CheckpointMissing) as info:
        load_clip("vit-l-14")
    text = str(info.value)
    assert "openai/clip-vit-large-patch14" in text and str(tmp_path / "ckpt") in text
    assert "hf download openai/clip-vit-large-patch14" in text
    with pytest.raises(CheckpointMissing, match="not found"):
        load_clip(str(tmp_path / "no-such-folder"))


def test_content_hash_follows_the_weights(tmp_path):
    folder = _tiny_random_clip_folder(tmp_path / "m")
    before = content_hash(folder)
    assert content_hash(folder) == before  # cached, and stable
    (folder / "config.json").write_text((folder / "config.json").read_text() + " ")
    assert content_hash(folder) != before
