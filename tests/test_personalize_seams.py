"""The personalization seams: cross-attention capture, scoped backbone, batched LoRA, tokens."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from debias_core.models.attention import (
    attention_sides,
    capture_cross_attention,
    cross_attention_layers,
    default_resolution,
)
from debias_core.models.dummy import dummy_backbone
from debias_core.models.lora_batched import attach_batched_lora, save_lora_file
from debias_core.models.tokens import ExtendedEmbedding, load_learned_embeds, save_learned_embeds


def _inputs(backbone, prompts, seed=0):
    gen = torch.Generator().manual_seed(seed)
    latents = torch.randn(len(prompts), 4, 8, 8, generator=gen)
    return latents, backbone.encode_text(prompts)


def _unet(backbone, latents, text, t=500):
    with torch.no_grad():
        return backbone.unet(latents, t, text).sample


# -- cross-attention capture ------------------------------------------------------------------
def test_capture_off_changes_nothing_bit_for_bit():
    backbone = dummy_backbone()
    latents, text = _inputs(backbone, ["a photo of digit 3", "red stroke"])
    before = _unet(backbone, latents, text)
    processors = {k: id(v) for k, v in backbone.unet.attn_processors.items()}
    with capture_cross_attention(backbone.unet, [[1, 4], [1, 2]]) as store:
        during = _unet(backbone, latents, text)
    after = _unet(backbone, latents, text)
    assert torch.equal(before, after)  # bit for bit once the block is left
    assert {k: id(v) for k, v in backbone.unet.attn_processors.items()} == processors
    torch.testing.assert_close(during, before, atol=1e-5, rtol=1e-5)  # same maths, inside too
    assert len(store.latest) == len(cross_attention_layers(backbone.unet)) == 4


def test_capture_records_probabilities_of_the_chosen_tokens():
    backbone = dummy_backbone()
    latents, text = _inputs(backbone, ["a photo of digit 3"])
    n_tokens = text.shape[1]
    with capture_cross_attention(backbone.unet, list(range(n_tokens)), layers=["up"]) as store:
        _unet(backbone, latents, text)
        _unet(backbone, latents, text)
    assert all(name.startswith("up_blocks") for name in store.latest)
    maps = store.last()
    assert maps.shape == (1, n_tokens, 4, 4)
    # Over all text positions, each pixel's attention sums to 1 (heads averaged).
    torch.testing.assert_close(maps.sum(dim=1), torch.ones(1, 4, 4))
    assert store.counts == {name: 2 for name in store.latest}
    torch.testing.assert_close(store.mean(), maps)  # two identical forwards
    nowhere = capture_cross_attention(backbone.unet, [0], layers=["nowhere"])
    with pytest.raises(ValueError, match="no cross-attention layer"), nowhere:
        pass


def test_attention_resolution_follows_break_a_scene():
    assert attention_sides(dummy_backbone().unet, 8) == [4]
    assert default_resolution([8, 16, 32, 64], 64) == 16  # SD at 512 px: the 16x16 maps
    assert default_resolution([4], 8) == 4  # the tiny models: the only size there is


# -- scoped backbone --------------------------------------------------------------------------
def test_personalized_attaches_and_restores_the_pristine_model(tmp_path):
    lora, other = tmp_path / "lora", dummy_backbone()  # a LoRA file made on another copy
    params = other.attach_lora("trained")
    with torch.no_grad():
        for p in params:
            p.add_(0.3)
    other.save_lora("trained", lora)
    backbone = dummy_backbone()
    latents, text = _inputs(backbone, ["a photo of digit 3"])
    base_out, fingerprint = _unet(backbone, latents, text), backbone.fingerprint()
    vocab, table = len(backbone.tokenizer), backbone.text_encoder.get_input_embeddings()
    token_file = save_learned_embeds(tmp_path / "t.safetensors", "<t1>", torch.ones(32))

    with backbone.personalized(
        tokens=[token_file], adapters=[lora / "pytorch_lora_weights.safetensors"]
    ):
        assert "<t1>" in backbone.tokenizer.get_vocab()
        assert backbone.adapters() == ["adapter-0"]
        assert not torch.equal(_unet(backbone, latents, text), base_out)
        ids = backbone.tokenize("a <t1> digit")[0]
        row = backbone.text_encoder.get_input_embeddings().weight[ids[2]]
        assert torch.equal(row, torch.ones(32))
    assert len(backbone.tokenizer) == vocab and "<t1>" not in backbone.tokenizer.get_vocab()
    assert backbone.text_encoder.get_input_embeddings() is table
    assert backbone.text_encoder.config.vocab_size == table.num_embeddings
    assert backbone.fingerprint() == fingerprint
    assert not hasattr(backbone.unet, "peft_config")
    assert torch.equal(
        _unet(backbone, latents, backbone.encode_text(["a photo of digit 3"])), base_out
    )


def test_personalized_restores_after_an_error():
    backbone = dummy_backbone()
    fingerprint = backbone.fingerprint()
    hijack = backbone.personalized(tokens={"digit": torch.zeros(32)})  # a word of the vocabulary
    with pytest.raises(ValueError, match="already in the vocabulary"), hijack:
        pass
    with pytest.raises(RuntimeError, match="boom"), backbone.scoped():
        backbone.attach_lora("x")
        raise RuntimeError("boom")
    assert backbone.fingerprint() == fingerprint and backbone.adapters() == []


def test_scope_undoes_transformers_in_place_resize():
    """`resize_token_embeddings` swaps the old table's data in place; the scope puts it back."""
    backbone = dummy_backbone()
    table = backbone.text_encoder.get_input_embeddings()
    rows, fingerprint = table.num_embeddings, backbone.fingerprint()
    with backbone.scoped():
        backbone.tokenizer.add_tokens(["<z>"])
        backbone.text_encoder.resize_token_embeddings(len(backbone.tokenizer) + 3)
        assert backbone.text_encoder.get_input_embeddings().weight.shape[0] == rows + 4
    assert table.weight.shape[0] == table.num_embeddings == rows
    assert backbone.text_encoder.get_input_embeddings() is table
    assert backbone.fingerprint() == fingerprint


# -- learned tokens -----------------------------------------------------------------------------
def test_extended_embedding_trains_only_the_new_rows():
    base = torch.nn.Embedding(10, 4)
    before = base.weight.detach().clone()
    ext = ExtendedEmbedding(base, torch.zeros(2, 4))
    ids = torch.tensor([[1, 10, 11, 3]])
    out = ext(ids)
    assert torch.equal(out[0, 0], before[1]) and torch.equal(out[0, 1], torch.zeros(4))
    base.weight.requires_grad_(False)
    opt = torch.optim.AdamW([ext.new_rows], lr=0.1, weight_decay=0.1)
    for _ in range(3):
        opt.zero_grad()
        (ext(ids) - 1).pow(2).sum().backward()
        opt.step()
    assert torch.equal(base.weight, before)
    assert ext.weight.shape == (12, 4) and not torch.equal(ext.new_rows, torch.zeros(2, 4))


def test_learned_embeds_file_is_diffusers_format(tmp_path):
    from safetensors.torch import load_file

    path = save_learned_embeds(
        tmp_path / "x" / "learned_embeds.safetensors", "<c-3>", torch.arange(4.0)
    )
    assert {k: v.shape for k, v in load_file(str(path)).items()} == {"<c-3>": (1, 4)}
    assert torch.equal(load_learned_embeds(path)["<c-3>"], torch.arange(4.0))


# -- batched LoRA -----------------------------------------------------------------------------
def _trained_batched_lora(backbone, n=3, seed=0):
    gens = [torch.Generator().manual_seed(seed + k) for k in range(n)]
    lora = attach_batched_lora(backbone.unet, gens, rank=2)
    with torch.no_grad():  # stand-in for training: every adapter gets its own B
        for k, p in enumerate(lora.parameters()):
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(100 + k)) * 0.2)
    return lora


def test_batched_lora_applies_each_samples_own_adapter():
    backbone = dummy_backbone()
    latents, text = _inputs(backbone, ["a photo of digit 3"] * 3)
    base = _unet(backbone, latents, text)
    with backbone.scoped():
        lora = _trained_batched_lora(backbone)
        lora.set_index(torch.tensor([2, -1, 0]))
        mixed = _unet(backbone, latents, text)
        singles = []
        for row, k in ((0, 2), (2, 0)):
            lora.set_index(torch.tensor([k]))
            singles.append(_unet(backbone, latents[row : row + 1], text[row : row + 1]))
    torch.testing.assert_close(mixed[1], base[1])  # index -1: the base model
    assert not torch.allclose(mixed[0], base[0], atol=1e-4)
    torch.testing.assert_close(mixed[0], singles[0][0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(mixed[2], singles[1][0], atol=1e-5, rtol=1e-5)


def test_one_concept_exported_from_a_batch_loads_in_stock_diffusers(tmp_path):
    """Stock `load_lora_weights` + `load_textual_inversion` reproduce the batched model's UNet
    output for that concept within 1e-5."""
    backbone = dummy_backbone()
    folder = tmp_path / "backbone"
    backbone.txt2img_pipeline().save_pretrained(folder)
    prompt = "a photo of <c-1> digit 3"
    latents, _ = _inputs(backbone, [prompt] * 3)
    with backbone.scoped():
        lora = _trained_batched_lora(backbone)
        backbone.tokenizer.add_tokens(["<c-0>", "<c-1>", "<c-2>"])
        first = backbone.tokenizer.convert_tokens_to_ids("<c-0>")
        rows = torch.randn(3, 32, generator=torch.Generator().manual_seed(5))
        embedding = ExtendedEmbedding(backbone.text_encoder.get_input_embeddings(), rows, first)
        backbone.text_encoder.set_input_embeddings(embedding)
        prompts = ["a photo of <c-0> digit 3", prompt, "a photo of <c-2> digit 3"]
        lora.set_index(torch.tensor([0, 1, 2]))
        batched = _unet(backbone, latents, backbone.encode_text(prompts))[1]
        save_lora_file(lora.state_dict_of(1), lora.peft_metadata(), tmp_path / "lora")
        save_learned_embeds(tmp_path / "tok.safetensors", "<c-1>", embedding.new_rows[1])

    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)
    pipe.load_lora_weights(str(tmp_path / "lora"))
    pipe.load_textual_inversion(str(tmp_path / "tok.safetensors"), token="<c-1>")
    ids = pipe.tokenizer(prompt, padding="max_length", max_length=16, return_tensors="pt").input_ids
    with torch.no_grad():
        text = pipe.text_encoder(ids)[0]
        stock = pipe.unet(latents[1:2], 500, text).sample[0]
    assert (stock - batched).abs().max() < 1e-5


def test_batched_lora_init_depends_only_on_its_generator():
    a, b = dummy_backbone(), dummy_backbone()
    with a.scoped(), b.scoped():
        three = attach_batched_lora(a.unet, [torch.Generator().manual_seed(s) for s in (7, 8, 9)])
        one = attach_batched_lora(b.unet, [torch.Generator().manual_seed(8)])
        for name, layer in three.layers.items():
            assert torch.equal(layer.lora_A[1], one.layers[name].lora_A[0])
            assert torch.equal(layer.lora_B, torch.zeros_like(layer.lora_B))


def test_images_are_identical_with_stock_textual_inversion(tmp_path):
    """The project's own generation with a token file = stock load_textual_inversion."""
    from diffusers import StableDiffusionPipeline

    from debias_core.generate.txt2img import run_pipeline

    backbone = dummy_backbone()
    folder = tmp_path / "backbone"
    backbone.txt2img_pipeline().save_pretrained(folder)
    vector = torch.randn(32, generator=torch.Generator().manual_seed(3))
    token_file = save_learned_embeds(tmp_path / "learned_embeds.safetensors", "<c-3>", vector)
    prompts, seeds = ["a photo of <c-3> digit 3"] * 2, [11, 12]
    with backbone.personalized(tokens=[token_file]):
        ours = run_pipeline(backbone, prompts, ["", ""], seeds, steps=3, guidance=4.0)
    pipe = StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    pipe.load_textual_inversion(str(token_file), token="<c-3>")
    stock = pipe(
        prompts,
        num_inference_steps=3,
        guidance_scale=4.0,
        generator=[torch.Generator().manual_seed(s) for s in seeds],
        height=16,
        width=16,
        output_type="np",
    ).images
    np.testing.assert_array_equal(ours, np.round(np.clip(stock, 0, 1) * 255).astype(np.uint8))
    without = run_pipeline(backbone, ["a photo of digit 3"] * 2, ["", ""], seeds, 3, 4.0)
    assert not np.array_equal(ours, without)
