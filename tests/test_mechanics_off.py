"""Each paper's core mechanic, tested so that switching it off fails a test.

tests/README.md lists the mutations these tests catch and how to apply them
(`tests/mutants.py` applies each to a copy of the repo and runs the matching test).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from debias_core.models.dummy import dummy_backbone
from debias_core.personalize import PERSONALIZERS, PersonalizeConfig
from debias_core.personalize.base import build_params
from debias_core.personalize.engine import train_concepts


# -- DecoupleGen / Break-A-Scene: masked diffusion loss and cross-attention loss -------------------
def _train_per_image(store, masks_override=None, **params):
    """Train one image's tokens for a few steps; returns the learned object and context tokens."""
    values = {"phase2_steps": 0, "images_per_step": 2, **params}
    config = PersonalizeConfig(method="per-image", steps=3, seed=3, samples=(1,), params=values)
    method = PERSONALIZERS.get("per-image")
    params = build_params(method.params_class, dict(config.params))
    concepts = method.plan(store, config, params)
    backbone = dummy_backbone()
    data = method.load_data(store, backbone, concepts[0], params)
    if masks_override is not None:
        data = dataclasses.replace(
            data, masks={k: masks_override(v) for k, v in data.masks.items()}
        )
    (result,) = train_concepts(backbone, method, concepts, [data], config, params)
    return torch.cat([result.tokens["<o-1>"], result.tokens["<x-1>"]])


def _differ(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def test_per_image_tokens_learn_from_their_masks(tiny_project):
    """With the cross-attention loss off, the masks still shape the learned tokens: the diffusion
    loss counts only the pixels of the prompt's tokens (fails with `masked=False`)."""
    real = _train_per_image(tiny_project, attention_weight=0.0)
    whole = _train_per_image(tiny_project, torch.ones_like, attention_weight=0.0)
    assert _differ(real, whole) > 1e-4


def test_per_image_cross_attention_loss_moves_the_tokens(tiny_project):
    """The same training with lambda > 0 and lambda = 0 learns different tokens (fails when the
    phases drop the attention weight)."""
    with_attention = _train_per_image(tiny_project, attention_weight=1.0)
    without = _train_per_image(tiny_project, attention_weight=0.0)
    assert _differ(with_attention, without) > 1e-4


# -- DiffInject: h-space content injection --------------------------------------------------------
def _diffinject(store, backbone, **params):
    from debias_core.generate.diffinject import DiffInjectParams, draw

    ids = [s.id for s in store.list_samples()][:4]
    # originals 0, 1 take the content of samples 2, 3; 6 steps: t = 999, 832, ..., 166
    return draw(backbone, store, DiffInjectParams(**params), 6, ids[:2], ids[2:], [5, 6])


def test_diffinject_injection_changes_the_image_and_only_through_h(tiny_project):
    """gamma = 0 (or an edit window after the last step) redraws the plain reconstruction;
    gamma = 0.7 over the early steps changes the image clearly (fails with no h-space hook)."""
    backbone = dummy_backbone(seed=0)
    plain = _diffinject(tiny_project, backbone, gamma=0.0).astype(int)
    never = _diffinject(tiny_project, backbone, gamma=0.7, t_edit=1.0, t_boost=0.2).astype(int)
    injected = _diffinject(tiny_project, backbone, gamma=0.7).astype(int)
    assert np.abs(never - plain).max() <= 1  # nothing injected: the same image (rounding)
    # measured on the dummy backbone: a mean change of ~16 grey levels per pixel
    change = float(np.abs(injected - plain).mean())
    assert change > 4.0, f"the injection changed the image by {change:.2f} grey levels"


# -- Clustered DreamBooth: k-means on image features ----------------------------------------------
def test_cluster_lora_clusters_follow_a_planted_structure(tiny_project, monkeypatch):
    """Features with two planted, well-separated clusters per group: each concept holds exactly
    one planted cluster (fails with a round-robin or any label-blind split)."""
    from debias_core.analysis import features

    planted: dict[int, int] = {}

    def fake_features(store, spec, ids):
        rng = np.random.default_rng(len(ids))
        side = rng.permutation(len(ids)) % 2  # a random half of the group is cluster 1
        planted.update(zip(ids, side.tolist(), strict=True))
        return np.where(side[:, None] == 1, 10.0, -10.0) + rng.normal(0, 0.1, (len(ids), 8))

    monkeypatch.setattr(features, "sample_features", fake_features)
    config = PersonalizeConfig(
        method="cluster-lora", steps=1, seed=0, groups=((0, 0),), params={"clusters": 2}
    )
    method = PERSONALIZERS.get("cluster-lora")
    params = build_params(method.params_class, {"clusters": 2, "features": "clip"})
    monkeypatch.setattr("debias_core.personalize.cluster_lora.check_features", lambda spec: None)
    concepts = method.plan(tiny_project, config, params)
    assert len(concepts) == 2
    for concept in concepts:
        assert len({planted[i] for i in concept.sample_ids}) == 1


# -- DBB: latent blending (Eq. 2) -----------------------------------------------------------------
@pytest.mark.parametrize("outside", ["noised", "clean"])
def test_dbb_keeps_the_source_latents_outside_the_mask(tiny_project, outside):
    """Before the pixels are pasted back, the latents outside the edit region are the source's
    own and inside they are new (fails when the blend hook is dropped: the paste-back alone
    would still make the final image look right outside the mask)."""
    from debias_core.generate.dbb import DbbParams, source_mask_id
    from debias_core.generate.dbb_inpaint import inpaint

    params = DbbParams(grow=0, outside=outside)
    sources = [s.id for s in tiny_project.list_samples()][:2]
    masks = [source_mask_id(tiny_project, params, s, 0) for s in sources]
    batch = {"sources": sources, "mask_ids": masks, "seeds": [1, 2], "prompts": ["a photo"] * 2}
    result = inpaint(dummy_backbone(seed=0), tiny_project, params, 4, 1.0, batch)
    cell = result.pixels.shape[-1] // result.latents.shape[-1]
    inside = torch.from_numpy(result.regions[:, None, ::cell, ::cell].copy()).expand_as(
        result.latents
    )
    assert 0 < inside.float().mean() < 1
    torch.testing.assert_close(result.latents[~inside], result.clean[~inside])
    assert float((result.latents[inside] - result.clean[inside]).abs().mean()) > 0.1


def test_every_listed_mutation_still_applies():
    """CI does not run tests/mutants.py (minutes); it checks that the text each mutation
    replaces is still in the source once, so the list cannot silently go stale."""
    from mutants import MUTATIONS, ROOT

    for mutation in MUTATIONS:
        assert (ROOT / mutation.path).read_text().count(mutation.old) == 1, mutation.name
