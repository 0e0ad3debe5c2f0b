"""A tiny random backbone built in-process (no files, no downloads) for fast tests.

Same classes as the real thing, sized like diffusers' own `get_dummy_components`: 16x16 images,
8x8x4 latents, a 2-layer CLIP text encoder and a tokenizer trained here on a few words.
"""

from __future__ import annotations

import copy
import functools
import hashlib

import torch

from debias_core.models.backbone import Backbone
from debias_core.models.clip_bpe import clip_tokenizer_in_memory

DUMMY_WORDS = [
    "a photo of digit 0 1 2 3 4 5 6 7 8 9",
    "red green blue yellow magenta cyan orange purple white black stroke, on a background",
]


def sd_ddim_scheduler(prediction_type: str = "epsilon"):
    """DDIM with Stable Diffusion's noise schedule; 'trailing' spacing starts at pure noise."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        timestep_spacing="trailing",
        prediction_type=prediction_type,
    )


def _state_hash(*modules: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for module in modules:
        for name, tensor in sorted(module.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def _trained_tokenizer():
    # The `tokenizers` BPE trainer breaks ties between equally frequent pairs differently from
    # call to call (measured: 3-4 different merge lists in 6 calls), so "digit" could be one id
    # in one dummy backbone and another in the next. Train once per process and hand out copies.
    return clip_tokenizer_in_memory(DUMMY_WORDS, max_length=16)


def dummy_backbone(seed: int = 0) -> Backbone:
    """Random tiny components; the same seed gives the same weights (global RNG untouched)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = copy.deepcopy(_trained_tokenizer())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            sample_size=8,
            in_channels=4,
            out_channels=4,
            block_out_channels=(4, 8),
            layers_per_block=1,
            norm_num_groups=2,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=2,
        )
        vae = AutoencoderKL(
            block_out_channels=(4, 8),
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 2,
            up_block_types=("UpDecoderBlock2D",) * 2,
            latent_channels=4,
            norm_num_groups=2,
            sample_size=16,
        )
        text_config = CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=16,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        text_encoder = CLIPTextModel(text_config)
    for module in (unet, vae, text_encoder):
        module.requires_grad_(False).eval()
    return Backbone(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        unet=unet,
        vae=vae,
        scheduler=sd_ddim_scheduler(),
        spec=f"dummy:{seed}",
        content_hash=_state_hash(unet, vae, text_encoder),
    )


TINY_DETECTOR_WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "digit", "a", "photo"]
TINY_DETECTOR_WORDS += [str(d) for d in range(10)]


def tiny_grounded_sam(out_dir, seed: int = 0) -> tuple:
    """Random tiny GroundingDINO and SAM saved as two local checkpoint folders (64 px inputs).

    Same classes and file layout as `IDEA-Research/grounding-dino-*` / `facebook/sam-vit-*`, so
    the real loading path runs on them. Returns (detector folder, sam folder).
    """
    from pathlib import Path

    from transformers import (
        BertConfig,
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SamConfig,
        SamImageProcessor,
        SamMaskDecoderConfig,
        SamModel,
        SamProcessor,
        SamPromptEncoderConfig,
        SamVisionConfig,
        SwinConfig,
    )

    out_dir = Path(out_dir)
    detector_dir, sam_dir = out_dir / "grounding-dino-tiny-random", out_dir / "sam-tiny-random"
    detector_dir.mkdir(parents=True, exist_ok=True)
    # transformers 5: BertTokenizer(vocab_file=...) ignores the file; from_pretrained(dir) reads it
    (detector_dir / "vocab.txt").write_text("\n".join(TINY_DETECTOR_WORDS))
    tokenizer = BertTokenizer.from_pretrained(detector_dir)
    swin = SwinConfig(
        image_size=64,
        patch_size=4,
        embed_dim=8,
        depths=[1, 1, 1, 1],
        num_heads=[1, 1, 1, 1],
        window_size=2,
        out_features=["stage2", "stage3", "stage4"],  # the last map must stay >= 2x2
    )
    text = BertConfig(
        vocab_size=len(TINY_DETECTOR_WORDS),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    detector_config = GroundingDinoConfig(
        backbone_config=swin,
        text_config=text,
        d_model=32,  # GroupNorm(32, d_model) inside
        encoder_layers=1,
        decoder_layers=2,  # 1 fails on tied weights
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        num_queries=10,
        num_feature_levels=3,
        encoder_n_points=2,
        decoder_n_points=2,
        max_text_len=32,
        use_pretrained_backbone=False,
    )
    vision = SamVisionConfig(
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        mlp_dim=32,
        image_size=64,
        patch_size=16,
        output_channels=16,
        window_size=2,
        global_attn_indexes=[1],
        num_pos_feats=8,  # 2 x 8 = the prompt encoder's hidden size
    )
    sam_config = SamConfig(
        vision_config=vision,
        prompt_encoder_config=SamPromptEncoderConfig(
            hidden_size=16, image_size=64, patch_size=16, mask_input_channels=4
        ),
        mask_decoder_config=SamMaskDecoderConfig(
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            mlp_dim=32,
            iou_head_hidden_dim=16,
        ),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        detector = GroundingDinoForObjectDetection(detector_config).eval()
        sam = SamModel(sam_config).eval()
    detector.save_pretrained(detector_dir)
    GroundingDinoProcessor(
        image_processor=GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 64}),
        tokenizer=tokenizer,
    ).save_pretrained(detector_dir)
    sam.save_pretrained(sam_dir)
    SamProcessor(
        image_processor=SamImageProcessor(
            size={"longest_edge": 64}, pad_size={"height": 64, "width": 64}
        )
    ).save_pretrained(sam_dir)
    return detector_dir, sam_dir
