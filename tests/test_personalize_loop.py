"""The one fine-tuning loop: targets, masks, attention loss, and many concepts = each alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from debias_core.models.dummy import dummy_backbone, sd_ddim_scheduler
from debias_core.personalize import PERSONALIZERS, PersonalizeConfig
from debias_core.personalize.base import PromptDraw, build_params
from debias_core.personalize.engine import train_concepts
from debias_core.personalize.loop import Batch, attention_loss, diffusion_target, loss_mask


def _plan(store, method, steps=4, **targets):
    config = PersonalizeConfig(method=method, steps=steps, seed=3, **targets)
    personalizer = PERSONALIZERS.get(method)
    params = build_params(personalizer.params_class, dict(config.params))
    return config, personalizer, params, personalizer.plan(store, config, params)


def _train(store, backbone, method, concepts, config, params):
    personalizer = PERSONALIZERS.get(method)
    data = [personalizer.load_data(store, backbone, c, params) for c in concepts]
    return train_concepts(backbone, personalizer, concepts, data, config, params)


# -- pieces on hand-made tensors ----------------------------------------------------------------
def test_targets_follow_the_schedulers_prediction_type():
    x, noise, t = torch.ones(1, 1, 1, 1) * 2.0, torch.ones(1, 1, 1, 1) * 3.0, torch.tensor([999])
    eps = sd_ddim_scheduler("epsilon")
    assert torch.equal(diffusion_target(eps, x, noise, t), noise)
    v = sd_ddim_scheduler("v_prediction")
    a = v.alphas_cumprod[999]
    expected = a.sqrt() * 3.0 - (1 - a).sqrt() * 2.0  # v = sqrt(a) eps - sqrt(1 - a) x0
    torch.testing.assert_close(diffusion_target(v, x, noise, t).flatten()[0], expected)


def _batch(masks):
    n = len(masks)
    prompts = [PromptDraw("p", tuple(m)) for m in masks]
    zeros = torch.zeros(n, 1, 2, 2)
    return Batch(zeros, zeros, torch.zeros(n), prompts, torch.zeros(n), torch.ones(n), masks)


def test_loss_mask_is_the_union_of_the_prompts_token_masks():
    left = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    top = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    mask = loss_mask(_batch([{"<o>": left, "<x>": top}, {"<o>": left}, {}]), (2, 2))
    assert mask[0, 0].tolist() == [[1.0, 1.0], [1.0, 0.0]]
    assert mask[1, 0].tolist() == [[1.0, 0.0], [1.0, 0.0]]
    assert mask[2, 0].tolist() == [[1.0, 1.0], [1.0, 1.0]]  # no token mask: the whole image


def test_attention_loss_on_a_hand_made_map():
    left = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    maps = torch.tensor([[[[0.5, 0.0], [0.25, 0.25]], [[9.0, 9.0], [9.0, 9.0]]]])  # (1, 2, 2, 2)
    valid = torch.tensor([[True, False]])  # the second token is padding
    loss = attention_loss(maps, _batch([{"<o>": left}]), valid)
    # normalised by its max: [[1, 0], [0.5, 0.5]] against [[1, 0], [1, 0]] -> (0.25 + 0.25) / 4
    torch.testing.assert_close(loss, torch.tensor([0.125]))


# -- training --------------------------------------------------------------------------------------
def test_textual_inversion_trains_only_the_new_rows(tiny_project):
    backbone = dummy_backbone()
    table = backbone.text_encoder.get_input_embeddings().weight.detach().clone()
    unet = {k: v.clone() for k, v in backbone.unet.state_dict().items()}
    config, _, params, concepts = _plan(tiny_project, "textual-inversion", classes=(0, 1))
    assert [c.tokens[0].name for c in concepts] == ["<c-0>", "<c-1>"]
    assert all(len(c.sample_ids) == 20 for c in concepts)
    results = _train(tiny_project, backbone, "textual-inversion", concepts, config, params)
    assert torch.equal(backbone.text_encoder.get_input_embeddings().weight, table)
    assert all(torch.equal(v, unet[k]) for k, v in backbone.unet.state_dict().items())
    init = table[backbone.tokenizer("digit 0", add_special_tokens=False).input_ids].mean(0)
    assert not torch.allclose(results[0].tokens["<c-0>"], init)  # the token moved
    assert len(results[0].loss_curve) == 4 and results[0].lora is None


@pytest.mark.slow
@pytest.mark.parametrize("method", ["textual-inversion", "group-lora"])
def test_concepts_train_the_same_in_a_batch_as_alone(tiny_project, method):
    """Same steps, same draws, same result: a batch is only faster."""
    targets = {"classes": (0, 1)} if method == "textual-inversion" else {"groups": ((0, 0), (1, 1))}
    config, _, params, concepts = _plan(tiny_project, method, **targets)
    backbone = dummy_backbone()
    together = _train(tiny_project, backbone, method, concepts, config, params)
    for k, concept in enumerate(concepts):
        (alone,) = _train(tiny_project, backbone, method, [concept], config, params)
        torch.testing.assert_close(alone.loss_curve, together[k].loss_curve, atol=1e-5, rtol=1e-4)
        for name, vector in alone.tokens.items():
            torch.testing.assert_close(vector, together[k].tokens[name], atol=1e-5, rtol=1e-4)
        if alone.lora is not None:
            for key, tensor in alone.lora.items():
                torch.testing.assert_close(tensor, together[k].lora[key], atol=1e-5, rtol=1e-4)


def test_per_image_two_phases_masked_loss_and_attention(tiny_project):
    config, personalizer, params, concepts = _plan(
        tiny_project, "per-image", steps=3, samples=(1, 2)
    )
    assert [t.name for t in concepts[0].tokens] == ["<o-1>", "<x-1>"]
    assert [p.name for p in personalizer.phases(config, params)] == ["tokens", "tokens+lora"]
    data = personalizer.load_data(tiny_project, dummy_backbone(), concepts[0], params)
    fg, bg = data.masks["<o-1>"], data.masks["<x-1>"]
    assert fg.shape == (1, 1, 16, 16) and 0 < fg.mean() < 0.5
    torch.testing.assert_close(fg + bg, torch.ones_like(fg))  # context = everything else
    results = _train(tiny_project, dummy_backbone(), "per-image", concepts, config, params)
    assert all(len(r.loss_curve) == 6 for r in results)
    assert set(results[0].tokens) == {"<o-1>", "<x-1>"} and results[0].lora
    draws = {
        personalizer.prompt(concepts[0], params, torch.Generator().manual_seed(s), 0, False).text
        for s in range(30)
    }
    assert draws == {
        "a photo of <o-1>",
        "a photo of <x-1>",
        "a photo of <o-1> and <x-1>",
        "a photo of <x-1> and <o-1>",
    }


def test_gradient_checkpointing_and_autocast_options(tiny_project):
    config, _, params, concepts = _plan(tiny_project, "per-image", steps=2, samples=(1,))
    plain = _train(tiny_project, dummy_backbone(), "per-image", concepts, config, params)
    checkpointed = PersonalizeConfig(**{**config.__dict__, "gradient_checkpointing": True})
    backbone = dummy_backbone()
    fingerprint = backbone.fingerprint()
    same = _train(tiny_project, backbone, "per-image", concepts, checkpointed, params)
    torch.testing.assert_close(same[0].loss_curve, plain[0].loss_curve, atol=1e-5, rtol=1e-4)
    assert backbone.fingerprint() == fingerprint  # checkpointing switched off again
    assert not backbone.unet.down_blocks[1].gradient_checkpointing
    bf16 = PersonalizeConfig(**{**config.__dict__, "mixed_precision": "bf16"})
    low = _train(tiny_project, dummy_backbone(), "per-image", concepts, bf16, params)
    assert all(
        abs(a - b) < 0.1 * abs(b) + 0.05
        for a, b in zip(low[0].loss_curve, plain[0].loss_curve, strict=True)
    )


def test_per_image_takes_object_masks_from_a_segmenter(tiny_project):
    """DecoupleGen on a dataset without masks: a text-prompted segmenter's stored masks."""
    from debias_core.store.verify import MaskRow

    half = np.zeros((32, 32), bool)
    half[:, :16] = True
    tiny_project.record_masks([MaskRow(1, half, "grounded-sam", "digit 0")])
    masks = {"masks": "grounded-sam"}
    config, personalizer, params, concepts = _plan(
        tiny_project, "per-image", steps=1, samples=(1,), params=masks
    )
    data = personalizer.load_data(tiny_project, dummy_backbone(), concepts[0], params)
    fg = data.masks["<o-1>"][0, 0]
    assert fg[:, :7].min() == 1.0 and fg[:, 9:].max() == 0.0  # the recorded mask, resized
    with pytest.raises(ValueError, match="sample 2 has no grounded-sam mask: run .*masks DIR"):
        _plan(tiny_project, "per-image", steps=1, samples=(1, 2), params=masks)
    with pytest.raises(ValueError, match="masks must be one of"):
        _plan(tiny_project, "per-image", samples=(1,), params={"masks": "scissors"})
