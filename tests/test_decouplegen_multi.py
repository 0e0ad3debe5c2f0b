"""DecoupleGen's multi-label edits: N tokens per image with their masks, removal / replacement
prompts, sibling draws, b-found-and-c-absent verification, and the co-occurrence shift."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from debias_core.analysis.cooccurrence import conditional, cooccurrence
from debias_core.cli import main
from debias_core.generate import GenerateConfig
from debias_core.generate.decouplegen_multi import (
    DecoupleGenMultiParams,
    Target,
    edit_prompt,
    sibling_for,
    targets,
)
from debias_core.generate.siblings import siblings_of
from debias_core.models.dummy import dummy_backbone
from debias_core.personalize import PERSONALIZERS, PersonalizeConfig
from debias_core.personalize.base import build_params
from debias_core.personalize.engine import train_concepts
from debias_core.personalize.loop import loss_mask
from debias_core.store import SampleFilter
from debias_core.store.verify import PolicyVerdict
from debias_core.verify.policies.label_presence import LabelPresencePolicyParams, verdict

NAMES = {0: "0", 1: "1", 2: "red", 3: "green"}  # digits and colours: one label space


def patch_mask(size: int = 32) -> np.ndarray:
    """The context's hand-made mask: a corner square, apart from the digit's centre."""
    mask = np.zeros((size, size), bool)
    mask[:8, :8] = True
    return mask


@pytest.fixture
def multilabel(tiny_project):
    """The tiny Colored Digits project as a multi-label one: each train image carries {digit,
    colour}, the digit owns the dataset's mask and the colour a corner patch; biased pairs
    (0, red) and (1, green)."""
    store = tiny_project
    store.set_label_space(NAMES, [(0, 2, 0.9), (1, 3, 0.8)])
    train = store.list_samples(SampleFilter(source="real", split="train"))
    store.add_sample_labels({s.id: (s.y, 2 + s.a) for s in train})
    for s in train:
        digit = store.mask_pixels(store.find_mask(s.id, segmenter="dataset")["id"])
        store.add_mask(s.id, digit, "exact", label=NAMES[s.y])
        store.add_mask(s.id, patch_mask(), "exact", label=NAMES[2 + s.a])
    return store


def _plan(store, sample_id, **params):
    config = PersonalizeConfig(method="per-image", steps=1, seed=3, samples=(sample_id,))
    personalizer = PERSONALIZERS.get("per-image")
    chosen = build_params(personalizer.params_class, params)
    return config, personalizer, chosen, personalizer.plan(store, config, chosen)


@pytest.mark.slow
def test_per_image_learns_a_token_per_label_each_with_its_own_mask(multilabel):
    store = multilabel
    sample = store.list_samples(SampleFilter(source="real", split="train"))[0]
    c = 2 + sample.a
    config, personalizer, params, (concept,) = _plan(store, sample.id, phase2_steps=0)
    names = [t.name for t in concept.tokens]
    assert names == [f"<l{sample.y}-{sample.id}>", f"<l{c}-{sample.id}>", f"<bg-{sample.id}>"]
    backbone = dummy_backbone()
    data = personalizer.load_data(store, backbone, concept, params)
    b_mask, c_mask, bg = (data.masks[n][0, 0] for n in names)
    digit = store.mask_pixels(store.find_mask(sample.id, segmenter="dataset")["id"])
    corner = len(c_mask) // 4  # the colour's own patch (resized to the model's resolution)
    assert c_mask[: corner - 1, : corner - 1].min() == 1.0
    assert c_mask[corner + 1 :].max() == 0.0 and c_mask[:, corner + 1 :].max() == 0.0
    assert 0 < b_mask.mean() < 0.5 and float((b_mask * c_mask).sum()) < 1.0 and digit.any()
    torch.testing.assert_close(bg, 1 - torch.maximum(b_mask, c_mask))  # everything else
    # the masked loss of a prompt naming only [v_c] is c's mask, not the whole image
    from debias_core.personalize.loop import Batch

    batch = Batch(None, None, None, [None], None, None, [{names[1]: data.masks[names[1]][0]}])
    torch.testing.assert_close(loss_mask(batch, b_mask.shape)[0, 0], c_mask)
    results = train_concepts(backbone, personalizer, [concept], [data], config, params)
    assert set(results[0].tokens) == set(names)  # N = 3 tokens learned
    # single-label projects keep the two tokens (object, context) by default
    two = _plan(store, sample.id, parts="object+context")[3][0]
    assert [t.role for t in two.tokens] == ["object", "context"]


def test_a_label_without_its_mask_is_refused_before_a_job(multilabel):
    unmasked = multilabel.list_samples(SampleFilter(source="real", split="test"))[0]
    multilabel.add_sample_labels({unmasked.id: (unmasked.y,)})
    with pytest.raises(ValueError, match=f"sample {unmasked.id} has no dataset mask of"):
        _plan(multilabel, unmasked.id)
    with pytest.raises(ValueError, match="unknown label"):
        _plan(multilabel, unmasked.id, labels="purple")


def test_removal_names_no_context_and_replacement_draws_a_sibling(multilabel):
    removal = DecoupleGenMultiParams()
    assert edit_prompt(removal, "0", "<bg-5>") == "a photo of 0 at <bg-5>"
    replace = DecoupleGenMultiParams(edit="replacement")
    assert edit_prompt(replace, "0", "<bg-5>", "green") == "a photo of 0 and green at <bg-5>"
    with pytest.raises(ValueError, match="removal_prompt may use only"):
        DecoupleGenMultiParams(removal_prompt="a photo of {b} and {d} at {bg}").check_inputs()
    assert siblings_of(multilabel, "red") == ["green"]  # the demo's default: the other colours
    items = targets(multilabel, GenerateConfig(method="decouplegen-multi"), replace)
    assert {(t.b, t.c) for t in items} == {(0, 2), (1, 3)}
    assert all({t.b, t.c} <= multilabel.label_sets([t.source])[t.source] for t in items)
    assert {t.siblings for t in items if t.c == 2} == {(3,)}
    three = Target(1, 0, 0, 0, 2, siblings=(3, 4, 5))
    assert {sibling_for(three, s) for s in range(40)} == {3, 4, 5}  # uniform over the siblings
    (multilabel.root / "siblings.json").write_text(json.dumps({"red": []}))
    with pytest.raises(ValueError, match="'red' has no semantic siblings"):
        targets(multilabel, GenerateConfig(method="decouplegen-multi"), replace)


def test_verification_drops_an_image_where_the_context_is_found():
    base = {"b": "0", "c": "red", "p_b": 0.9, "p_c": 0.0}
    assert verdict(base, 0.5).decision == "accept"
    assert verdict({**base, "p_c": 1.0}, 0.5) == PolicyVerdict(
        "reject", "0 p=0.90 (found), red p=1.00 (found)"
    )
    assert verdict({**base, "p_b": 0.1}, 0.5).decision == "reject"  # b must be there
    with pytest.raises(ValueError, match="reader must be one of"):
        LabelPresencePolicyParams(reader="eyes").check_inputs()


def test_conditional_on_hand_made_label_sets():
    sets = [{0, 2}, {0, 2}, {0, 3}, {1}, {1, 3}]
    table, counts = conditional(sets, rows=[0, 1, 4], cols=[2, 3])
    assert counts == (3, 2, 0)
    assert table == ((2 / 3, 1 / 3), (0.0, 0.5), (None, None))


def test_cooccurrence_of_the_original_and_the_augmented_set(multilabel):
    store = multilabel
    table = cooccurrence(store)
    real = store.label_sets(store.sample_ids(SampleFilter(source="real", split="train")))
    with_0 = [s for s in real.values() if 0 in s]
    assert table.objects == ("0", "1") and table.contexts == ("red", "green")
    assert table.original[0][0] == sum(2 in s for s in with_0) / len(with_0) > 0.5
    assert table.augmented == table.original and table.generated == 0
    with pytest.raises(ValueError, match="status must be one of"):
        cooccurrence(store, status="some")
    from ui.state import AppContext
    from ui.verify import cooccurrence_view

    figure, note = cooccurrence_view(AppContext(store, executor=None), "accepted")
    assert [t.type for t in figure.data] == ["heatmap", "heatmap"]
    assert figure.data[0].z[0][0] == table.original[0][0] and note.startswith("2 biased objects")


def _generate(root, backbone, *extra):
    args = ["generate", root, "--method", "decouplegen-multi", "--backbone", backbone]
    args += ["--per-group", "2", "--steps", "2", "--batch-size", "2"]
    return main([*args, "--param", "sources=1", "--param", "personalize_steps=1", *extra])


@pytest.mark.slow
def test_cli_removal_replacement_verify_and_cooccurrence(multilabel, backbone_dir, capsys):
    store, root = multilabel, str(multilabel.root)
    assert _generate(root, backbone_dir) == 0
    (job,) = [j for j in store.list_jobs() if j.kind == "personalize"]
    assert job.params["params"]["parts"] == "labels"
    removed = store.list_samples(SampleFilter(source="generated"))
    assert len(removed) == 4  # 2 pairs x 1 source x 2 images
    labels = store.label_sets([s.id for s in removed])
    for sample in removed:
        b, c = sample.meta["pair"]
        prompt = store.get_recipe(sample.recipe_id).prompt
        assert prompt == f"a photo of {NAMES[b]} at <bg-{sample.parent_id}>"
        assert NAMES[c] not in prompt and labels[sample.id] == {b}
    assert _generate(root, backbone_dir, "--param", "edit=replacement") == 0
    replaced = [s for s in store.list_samples(SampleFilter(source="generated")) if s.id not in
                {r.id for r in removed}]  # fmt: skip
    assert len(store.list_jobs()) == 3  # the personalization was reused
    for sample in replaced:
        b, c = sample.meta["pair"]
        d = sample.meta["sibling"]
        assert d == {2: 3, 3: 2}[c] and store.label_sets([sample.id])[sample.id] == {b, d}
        assert store.get_recipe(sample.recipe_id).prompt.startswith(f"a photo of {NAMES[b]} and ")
    # verification: a random backbone draws noise, so read it with every label "found" at 0:
    # c is then found everywhere and every image is dropped
    verify = ["verify", root, "--policy", "label-presence", "--param", "found_at=0"]
    assert main(verify) == 0
    assert not store.sample_ids(SampleFilter(source="generated", status="accepted"))
    assert len(store.sample_ids(SampleFilter(source="generated", status="rejected"))) == 8
    capsys.readouterr()
    assert main(["cooccurrence", root, "--status", "all", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["generated"] == 8 and shown["n_augmented"][0] == shown["n_original"][0] + 4
    red = shown["contexts"].index("red")
    assert shown["augmented"][0][red] < shown["original"][0][red]  # the removal lowered P(red|0)
    assert main(["siblings", root, "--set", "red=purple"]) == 2
    assert main(["siblings", root, "--set", "red=green", "--json"]) == 0
