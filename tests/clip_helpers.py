"""A tiny random CLIP saved like a Hugging Face repository (tests build it in-process)."""

from __future__ import annotations

import torch


def tiny_random_clip_folder(folder, corpus=("a photo of a cat", "a photo of a dog")):
    """A random CLIP saved the way a Hugging Face CLIP repository lays out its files."""
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPTokenizer

    from debias_core.models.clip_bpe import train_clip_bpe, write_clip_tokenizer

    vocab, merges = train_clip_bpe(list(corpus), max_merges=50)
    write_clip_tokenizer(vocab, merges, folder, 16)
    tokenizer = CLIPTokenizer.from_pretrained(folder, local_files_only=True)
    text = {"vocab_size": len(tokenizer), "hidden_size": 16, "intermediate_size": 32}
    text |= {"num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 16}
    text |= {"eos_token_id": tokenizer.eos_token_id, "bos_token_id": tokenizer.bos_token_id}
    vision = {"image_size": 16, "patch_size": 8, "hidden_size": 16, "intermediate_size": 32}
    vision |= {"num_hidden_layers": 1, "num_attention_heads": 2}
    torch.manual_seed(0)
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=8)).save_pretrained(
        folder
    )
    CLIPImageProcessorPil(size={"shortest_edge": 16}, crop_size=16).save_pretrained(folder)
    return folder
