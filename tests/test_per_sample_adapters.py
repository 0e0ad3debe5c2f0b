"""Per-sample adapters: one batch mixing LoRAs and tokens draws what one-at-a-time draws."""

from __future__ import annotations

import pytest
import torch

from debias_core.generate import loop
from debias_core.models import lora_batched
from debias_core.models.dummy import dummy_backbone
from debias_core.models.lora_batched import attach_batched_lora, read_lora_file, save_lora_file
from debias_core.models.tokens import save_learned_embeds

# rows: (adapter, prompt); -1 = the stock model and a plain prompt
ROWS = [(0, "a photo of <c-0> digit 3"), (1, "a photo of <c-1> digit 3"), (-1, "a photo of 7")]
ROWS += [(2, "a photo of <c-2> digit 5"), (0, "a photo of <c-0> digit 1, red")]
SEEDS = [11, 12, 13, 14, 15]
STEPS, GUIDANCE = 3, 4.0

SCALE = 0.03  # LoRA weights of a trained size: the outputs stay in range
TOL = 1e-3  # batches of other sizes round differently (seen: 3e-5; mutants: > 0.9)


def _random_loras(backbone, folder, ranks=(2, 2, 3), alphas=(2.0, 2.0, 6.0)):
    """Adapter files with random A and B (trained ones start at B = 0), ranks and alphas mixed."""
    paths = []
    for k, (rank, alpha) in enumerate(zip(ranks, alphas, strict=True)):
        with backbone.scoped():
            lora = attach_batched_lora(
                backbone.unet, [torch.Generator().manual_seed(k)], rank, alpha
            )
            with torch.no_grad():
                for j, p in enumerate(lora.parameters()):
                    noise = torch.randn(
                        p.shape, generator=torch.Generator().manual_seed(50 * k + j)
                    )
                    p.add_(SCALE * noise)
            paths.append(
                save_lora_file(lora.state_dict_of(0), lora.peft_metadata(), folder / f"l{k}")
            )
    return paths


def _tokens(folder, dim):
    gen = torch.Generator().manual_seed(3)
    return [
        save_learned_embeds(
            folder / f"t{k}.safetensors", f"<c-{k}>", torch.randn(dim, generator=gen)
        )
        for k in range(3)
    ]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("adapters")
    backbone = dummy_backbone()
    loras = _random_loras(backbone, folder)
    tokens = _tokens(folder, backbone.text_encoder.config.hidden_size)
    return backbone, loras, tokens


def _one_at_a_time(backbone, loras, tokens) -> torch.Tensor:
    """Each adapter's rows in their own batch, with that LoRA and token attached by peft."""
    out = [None] * len(ROWS)
    for k in sorted({k for k, _ in ROWS}):
        mine = [i for i, (j, _) in enumerate(ROWS) if j == k]
        prompts, seeds = [ROWS[i][1] for i in mine], [SEEDS[i] for i in mine]
        attach = backbone.personalized(tokens=[tokens[k]], adapters=[loras[k]]) if k >= 0 else None
        with attach or backbone.scoped():
            latents = loop.sample(backbone, prompts, seeds, STEPS, GUIDANCE).latents
        for i, row in zip(mine, latents, strict=True):
            out[i] = row
    return torch.stack(out)


def _batched(backbone, loras, tokens) -> torch.Tensor:
    rows = [k for k, _ in ROWS]
    with backbone.per_sample(tokens=tokens, adapters=loras, rows=rows):
        return loop.sample(backbone, [p for _, p in ROWS], SEEDS, STEPS, GUIDANCE).latents


def test_one_batched_forward_equals_one_adapter_at_a_time(setup):
    backbone, loras, tokens = setup
    before = backbone.fingerprint()
    batched = _batched(backbone, loras, tokens)
    assert backbone.fingerprint() == before  # nothing left attached
    single = _one_at_a_time(backbone, loras, tokens)
    torch.testing.assert_close(batched, single, atol=TOL, rtol=TOL)
    # the adapters matter far beyond that tolerance: without them the rows come out otherwise
    with backbone.per_sample(tokens=tokens):
        plain = loop.sample(backbone, [p for _, p in ROWS], SEEDS, STEPS, GUIDANCE).latents
    lora_rows = [i for i, (k, _) in enumerate(ROWS) if k >= 0]
    assert (plain[lora_rows] - single[lora_rows]).abs().amax(dim=(1, 2, 3)).min() > 1e-2
    torch.testing.assert_close(plain[2], single[2], atol=TOL, rtol=TOL)  # the stock row


def _cond_half_only(self, batch, device):
    """A mutant: the unconditional half of guidance runs without the sample's adapter."""
    index = self.index.to(device)
    if batch == len(index):
        return index
    return torch.cat([torch.full_like(index, -1), index])


def _interleaved(self, batch, device):
    """A mutant: rows doubled as [s0, s0, s1, s1, ...], not the loop's [uncond; cond] blocks."""
    index = self.index.to(device)
    return index if batch == len(index) else index.repeat_interleave(batch // len(index))


@pytest.mark.parametrize("mutant", [_cond_half_only, _interleaved])
def test_guidance_halves_that_do_not_share_the_adapter_are_caught(setup, monkeypatch, mutant):
    backbone, loras, tokens = setup
    single = _one_at_a_time(backbone, loras, tokens)
    monkeypatch.setattr(lora_batched.AdapterIndex, "rows", mutant)
    wrong = _batched(backbone, loras, tokens)
    assert not torch.allclose(wrong, single, atol=TOL, rtol=TOL)


def test_lora_files_read_back_with_their_scaling_and_bad_rows_are_refused(setup, tmp_path):
    backbone, loras, tokens = setup
    third = read_lora_file(loras[2])
    assert third.scaling == 2.0 and {a.shape[0] for a, _ in third.weights.values()} == {3}
    with (
        pytest.raises(ValueError, match=r"adapter rows \[0, 3\] for 3 adapters"),
        backbone.per_sample(adapters=loras, rows=[0, 3]),
    ):
        pass
    (tmp_path / "x.safetensors").write_bytes(b"not a lora")
    with pytest.raises(Exception):  # noqa: B017 - safetensors' own error for a broken file
        read_lora_file(tmp_path / "x.safetensors")
