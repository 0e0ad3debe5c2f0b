"""The backbone seam: the shipped embedded model, the dummy backbone, and missing checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from debias_core.models.backbone import (
    BACKBONES,
    EMBEDDED_DIR,
    Backbone,
    load_backbone,
)
from debias_core.models.checkpoints import CheckpointMissing, resolve_checkpoint
from debias_core.models.dummy import dummy_backbone


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def empty_hub(monkeypatch, tmp_path):
    """No Hugging Face cache and no project checkpoints: every real checkpoint is missing."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("DEBIAS_CHECKPOINTS", str(tmp_path / "checkpoints"))
    return tmp_path


def _generate(backbone: Backbone, prompts: list[str], seed: int = 0) -> np.ndarray:
    out = backbone.txt2img_pipeline()(
        prompts,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(seed),
        output_type="np",
    )
    return out.images


# -- the shipped embedded model -------------------------------------------------------------------
EMBEDDED_BUILT = pytest.mark.skipif(
    not (EMBEDDED_DIR / "model_index.json").exists(),
    reason="assets/tiny-sd not built (python scripts/build_embedded_backbone.py)",
)


def _judged(prompts: list[tuple[int, str, str]], copies: int = 4):
    """Judge `copies` generations of each (digit, stroke, background) prompt, 20 DDIM steps."""
    from debias_core.models.digit_judge import judge, load_digit_judge
    from debias_core.models.embedded_world import full_caption, generate

    backbone = load_backbone("embedded")
    assert len(backbone.content_hash) == 64 and backbone.image_size == 32
    wanted = [combo for combo in prompts for _ in range(copies)]
    images = generate(backbone, [full_caption(*combo) for combo in wanted], seed=0)
    assert images.shape == (len(wanted), 32, 32, 3)
    verdict = judge(load_digit_judge(EMBEDDED_DIR / "digit_judge.safetensors"), images)
    return verdict, wanted


# Digits, strokes and backgrounds all differ between prompts, and none is white-on-black.
PROMPTS = [(7, "white", "red"), (3, "yellow", "blue"), (0, "cyan", "purple"), (4, "red", "green")]


@EMBEDDED_BUILT
def test_embedded_loads_offline_and_paints_the_prompted_colours():
    verdict, wanted = _judged(PROMPTS)
    strokes = sum(s == w[1] for s, w in zip(verdict.strokes, wanted, strict=True))
    backgrounds = sum(b == w[2] for b, w in zip(verdict.backgrounds, wanted, strict=True))
    assert strokes >= 14 and backgrounds >= 14, verdict


@EMBEDDED_BUILT
def test_embedded_draws_the_prompted_digit():
    verdict, wanted = _judged(PROMPTS)
    digits = sum(d == w[0] for d, w in zip(verdict.digits, wanted, strict=True))
    assert digits >= 14, (digits, verdict.digits)


# -- the dummy backbone -------------------------------------------------------------------------
def test_dummy_is_seeded_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b, c = dummy_backbone(0), dummy_backbone(0), dummy_backbone(1)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert a.content_hash == b.content_hash != c.content_hash


def test_encode_decode_shapes():
    backbone = dummy_backbone()
    pixels = torch.rand(2, 3, 16, 16) * 2 - 1
    latents = backbone.encode_images(pixels, generator=torch.Generator().manual_seed(0))
    assert latents.shape == (2, 4, 8, 8)
    decoded = backbone.decode_latents(latents)
    assert decoded.shape == (2, 3, 16, 16)
    assert decoded.min() >= 0 and decoded.max() <= 1
    embeds = backbone.encode_prompt(["a photo of digit 3", "red stroke"], negative="")
    assert embeds.cond.shape == (2, 16, 32) and embeds.for_guidance().shape == (4, 16, 32)
    assert backbone.encode_prompt("digit 3").uncond is None


def test_add_tokens_makes_one_token_initialised_from_the_word():
    backbone = dummy_backbone()
    (new_id,) = backbone.add_tokens(["<v1>"], ["red"])
    ids = backbone.tokenizer("a <v1> digit", add_special_tokens=False).input_ids
    assert new_id in ids and len(ids) == 3
    table = backbone.text_encoder.get_input_embeddings().weight
    red = backbone.tokenizer("red", add_special_tokens=False).input_ids
    assert torch.equal(table[new_id], table[red].mean(0))
    assert backbone.encode_text("a <v1> digit").shape == (1, 16, 32)
    with pytest.raises(ValueError, match="already"):
        backbone.add_tokens(["<v1>"], ["red"])


def test_lora_save_load_round_trip_is_bit_identical(tmp_path):
    backbone = dummy_backbone()
    prompts = ["a photo of digit 3", "red stroke"]
    base = _generate(backbone, prompts)
    params = backbone.attach_lora("group0", rank=4)
    assert params and all(p.requires_grad for p in params)
    with torch.no_grad():  # stand-in for training: move the adapter away from its init
        for p in params:
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) * 0.5)
    adapted = _generate(backbone, prompts)
    assert not np.array_equal(adapted, base)
    backbone.save_lora("group0", tmp_path / "lora")
    assert (tmp_path / "lora" / "pytorch_lora_weights.safetensors").exists()
    backbone.detach_lora("group0")
    assert backbone.adapters() == []
    np.testing.assert_array_equal(_generate(backbone, prompts), base)
    backbone.load_lora(tmp_path / "lora", "group0")
    assert backbone.adapters() == ["group0"]
    np.testing.assert_array_equal(_generate(backbone, prompts), adapted)


def test_inpaint_pipeline_shares_the_components():
    backbone = dummy_backbone()
    pipe = backbone.inpaint_pipeline()
    assert pipe.unet is backbone.unet and pipe.vae is backbone.vae


# -- real checkpoints: found offline, or a clear message ------------------------------------
def test_missing_sd2_names_model_places_and_fetch_command(empty_hub):
    with pytest.raises(CheckpointMissing) as err:
        load_backbone("sd2")
    message = str(err.value)
    assert "stabilityai/stable-diffusion-2-base" in message
    assert str(empty_hub / "hf" / "hub") in message  # the HF cache searched
    assert str(empty_hub / "checkpoints" / "stable-diffusion-2-base") in message
    fetch = "hf download stabilityai/stable-diffusion-2-base --local-dir"
    assert fetch in message and err.value.command.startswith(fetch)
    assert isinstance(err.value, ValueError)


def test_resolve_finds_a_snapshot_in_the_hf_cache(empty_hub):
    repo = empty_hub / "hf" / "hub" / "models--microsoft--resnet-18"
    snapshot = repo / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    found = resolve_checkpoint("resnet-18", what="a test classifier")
    assert found.resolve() == snapshot.resolve()


def test_resolve_prefers_the_project_folder(empty_hub):
    folder = empty_hub / "mine"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert resolve_checkpoint("microsoft/resnet-50", what="x", local_dir=folder) == folder
    assert resolve_checkpoint(str(folder), what="x") == folder


def test_unknown_spec_lists_the_valid_ones():
    assert {"embedded", "sd2", "sd2-1", "sd2-inpainting"} <= set(BACKBONES.names())
    with pytest.raises(ValueError, match="embedded"):
        load_backbone("no-such-backbone")
