"""The denoising loop: replays the pipeline's recipes (within the cross-machine bound), and each
hook point works."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from debias_core.generate import GENERATORS, loop
from debias_core.generate.hooks import LoopHooks, MaskedBlend
from debias_core.generate.machine import CROSS_MACHINE_BOUND
from debias_core.generate.recipes import max_difference
from debias_core.models.backbone import EMBEDDED_DIR, load_backbone
from debias_core.models.dummy import dummy_backbone
from debias_core.store.records import Recipe

FIXTURE = Path(__file__).parent / "fixtures" / "txt2img_replay"
EMBEDDED_BUILT = pytest.mark.skipif(
    not (EMBEDDED_DIR / "model_index.json").exists(), reason="assets/tiny-sd not built"
)


@pytest.fixture(scope="module")
def dummy():
    return dummy_backbone(seed=0)


@EMBEDDED_BUILT
def test_replays_recipes_written_by_the_pipeline_code():
    """Recipes + images written by the diffusers-pipeline txt2img (before the loop existed), on
    another machine (an AMD EPYC, AVX2): float kernels differ between CPU models, instruction
    sets and thread counts, so the replay here is held to the stated cross-machine bound, not to
    bit-equality. Replaying twice here is bit-exact (the same machine kind)."""
    backbone = load_backbone("embedded")
    records = json.loads((FIXTURE / "recipes.json").read_text())
    assert {r["case"] for r in records} == {"vanilla-cfg4", "ffr-negatives", "no-guidance"}
    for record in records:
        fields = dict(record["recipe"], source_ids=tuple(record["recipe"]["source_ids"]))
        recipe = Recipe(**fields)
        assert recipe.backbone_hash == backbone.content_hash and recipe.machine == {}  # old format
        image = GENERATORS.get(recipe.method).replay(backbone, recipe, None)
        expected = np.asarray(Image.open(FIXTURE / record["png"]).convert("RGB"))
        assert max_difference(image, expected) <= CROSS_MACHINE_BOUND, record["png"]
        again = GENERATORS.get(recipe.method).replay(backbone, recipe, None)
        assert np.array_equal(image, again), record["png"]


def test_plain_loop_equals_the_diffusers_pipeline(dummy):
    """The same numbers as `StableDiffusionPipeline` (here on the dummy model, with guidance)."""
    prompts, seeds = ["a photo of digit 3", "red stroke"], [11, 12]
    ours = loop.sample(dummy, prompts, seeds, steps=3, guidance=3.0).images
    pipe = dummy.txt2img_pipeline()(
        prompts,
        num_inference_steps=3,
        guidance_scale=3.0,
        generator=[torch.Generator().manual_seed(s) for s in seeds],
        height=16,
        width=16,
        output_type="np",
    ).images
    assert np.array_equal(ours, np.round(np.clip(pipe, 0, 1) * 255).astype(np.uint8))


class Scale:
    """An h-space edit that multiplies h (rows it sees are recorded)."""

    def __init__(self, factor: float, asymmetric: bool, from_t: int = 0) -> None:
        self.factor, self.asymmetric, self.from_t, self.seen = factor, asymmetric, from_t, []

    def active(self, t: int) -> bool:
        return t >= self.from_t

    def __call__(self, h: torch.Tensor, t: int) -> torch.Tensor:
        self.seen.append((t, h.shape[0]))
        return h * self.factor


def _noise(backbone, seeds, steps=3):
    gens = loop.seeded_generators(backbone, seeds)
    return loop.initial_noise(backbone, gens, loop.fresh_scheduler(backbone, steps), torch.float32)


def test_h_space_edit_changes_the_output_and_is_removed_after(dummy):
    embeds = loop.encode_prompts(dummy, ["digit 1", "digit 2"], guidance=2.0)
    start = _noise(dummy, [1, 2])
    plain = loop.denoise(dummy, start, embeds, 3, guidance=2.0)
    edit = Scale(1.0, asymmetric=True)
    same = loop.denoise(dummy, start, embeds, 3, guidance=2.0, hooks=LoopHooks(h_space=edit))
    # identity edit: both predictions agree, so the asymmetric step is the plain step
    torch.testing.assert_close(same, plain, rtol=1e-5, atol=1e-6)
    # the edit sees each sample block separately: uncond rows, then cond rows (batch 2 each)
    assert edit.seen[:2] == [(int(edit.seen[0][0]), 2)] * 2 and len(edit.seen) == 6
    edited = loop.denoise(
        dummy, start, embeds, 3, guidance=2.0, hooks=LoopHooks(h_space=Scale(3.0, False))
    )
    assert (edited - plain).abs().max() > 1e-3
    assert not dummy.unet.mid_block._forward_hooks  # the hook never outlives the loop


def test_asymmetric_step_takes_x0_from_the_edit_and_direction_from_the_plain_prediction(dummy):
    """One step from the same x_t: asym = plain + sqrt(alpha_prev) * (x0_edit - x0_plain)."""
    embeds = loop.encode_prompts(dummy, ["digit 1"])
    start = _noise(dummy, [3], steps=1)
    hooks = lambda edit: LoopHooks(h_space=edit)  # noqa: E731
    plain = loop.denoise(dummy, start, embeds, 1)
    full = loop.denoise(dummy, start, embeds, 1, hooks=hooks(Scale(2.0, False)))
    asym = loop.denoise(dummy, start, embeds, 1, hooks=hooks(Scale(2.0, True)))
    scheduler = loop.fresh_scheduler(dummy, 1)
    (t,) = scheduler.timesteps
    alpha_t = scheduler.alphas_cumprod[int(t)]
    alpha_prev = scheduler.final_alpha_cumprod  # one step lands on the clean level
    # with eps-prediction: x0 = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t); prev = sqrt(a') x0 + ...
    x0 = lambda prev, eps: (prev - (1 - alpha_prev) ** 0.5 * eps) / alpha_prev**0.5  # noqa: E731
    eps_of = lambda prev: (  # noqa: E731
        (prev - alpha_prev**0.5 * start / alpha_t**0.5)
        / ((1 - alpha_prev) ** 0.5 - alpha_prev**0.5 * (1 - alpha_t) ** 0.5 / alpha_t**0.5)
    )
    eps_plain, eps_edit = eps_of(plain), eps_of(full)
    expected = alpha_prev**0.5 * x0(full, eps_edit) + (1 - alpha_prev) ** 0.5 * eps_plain
    torch.testing.assert_close(asym, expected, rtol=1e-4, atol=1e-5)
    assert (asym - plain).abs().max() > 1e-4 and (asym - full).abs().max() > 1e-4


def test_masked_blend_keeps_the_source_outside_the_mask(dummy):
    embeds = loop.encode_prompts(dummy, ["digit 1", "digit 2"])
    source = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(2, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1
    scheduler = loop.fresh_scheduler(dummy, 3)
    blend = MaskedBlend(mask, source, torch.randn_like(source), scheduler)
    out = loop.denoise(dummy, _noise(dummy, [1, 2]), embeds, 3, hooks=LoopHooks(blend=blend))
    outside = mask.expand_as(out) == 0
    assert torch.equal(out[outside], source[outside])
    assert (out - source)[~outside].abs().max() > 1e-3


def test_scopes_wrap_the_loop_and_callbacks_see_every_step(dummy):
    events = []

    @contextlib.contextmanager
    def scope():
        events.append("enter")
        yield
        events.append("exit")

    hooks = LoopHooks(scopes=[scope()], on_step=[lambda s: events.append(s.index)])
    loop.denoise(dummy, _noise(dummy, [5], 4), loop.encode_prompts(dummy, ["x"]), 4, hooks=hooks)
    assert events == ["enter", 0, 1, 2, 3, "exit"]


def test_stochastic_steps_are_seeded_per_sample(dummy):
    embeds = loop.encode_prompts(dummy, ["digit 1", "digit 2"])
    start = _noise(dummy, [1, 2])
    run = lambda seeds: loop.denoise(  # noqa: E731
        dummy, start, embeds, 3, eta=1.0, generators=loop.seeded_generators(dummy, seeds)
    )
    a, b, c = run([7, 8]), run([7, 8]), run([7, 9])
    assert torch.equal(a, b) and torch.equal(a[0], c[0]) and not torch.equal(a[1], c[1])
    with pytest.raises(ValueError, match="per-sample generators"):
        loop.denoise(dummy, start, embeds, 3, eta=1.0)


@EMBEDDED_BUILT
def test_inversion_then_denoising_reconstructs_the_image_and_captures_h():
    from debias_core.data.colored_digits import PALETTE, load_pools, render

    torch.set_num_threads(1)
    backbone = load_backbone("embedded")
    _, task = load_pools()
    colours = ["red", "green", "blue"]
    images = np.stack(
        [render(task.images[i], (255,) * 3, PALETTE[c])[0] for i, c in enumerate(colours)]
    )
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    embeds = loop.encode_prompts(backbone, [""] * 3)
    inverted = loop.invert(backbone, loop.image_latents(backbone, pixels), embeds, 50, True)
    assert sorted(inverted.h_by_t)[:2] == [19, 39] and inverted.h_by_t[999].shape == (3, 64, 4, 4)
    out = loop.decode(backbone, loop.denoise(backbone, inverted.latents, embeds, 50))
    error = np.abs(out.astype(int) - images).mean()
    other = np.abs(images[::-1].astype(int) - images).mean()
    assert error < 12 and error < other / 5, (error, other)
