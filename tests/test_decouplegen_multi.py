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
from debias_core.generate.recipes import regenerate_sample
from debias_core.generate.siblings import siblings_of
from debias_core.models.cache import cached_backbone
from debias_core.models.dummy import dummy_backbone
from debias_core.personalize import PERSONALIZERS, PersonalizeConfig
from debias_core.personalize.base import build_params
from debias_core.personalize.engine import train_concepts
from debias_core.personalize.loop import Batch, loss_mask
from debias_core.personalize.preview import concept_preview
from debias_core.store import SampleFilter
from debias_core.store.verify import PolicyVerdict
from debias_core.verify.policies.label_presence import LabelPresencePolicyParams, verdict
from debias_core.verify.scorers.label_presence import LabelPresenceParams, presence

TINY = {
    "classes": (0, 1),
    "palette": ("red", "green"),
    "biased_digits": (0,),
    "train_per_class": 12,
    "bias_ratio": 0.9,
    "val_fraction": 0.05,
    "test_fraction": 0.05,
}
NAMES = {0: "digit 0", 1: "digit 1", 2: "red", 3: "green"}  # digits and colours: one space


def tiny_multilabel(folder):
    from debias_core.data.ingest import create_project

    return create_project(folder, "colored-digits-multilabel", options=dict(TINY))


@pytest.fixture(scope="module")
def multilabel(tmp_path_factory):
    """The embedded multi-label demo at tiny size: each image {digit, colour}, region masks
    (digit, colour box, frame), the designed biased pair (digit 0, red). Tests that write to
    the project use their own (`tiny_multilabel`)."""
    return tiny_multilabel(tmp_path_factory.mktemp("ml") / "proj")


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
    size = b_mask.shape[0]
    stored = [
        store.mask_pixels(store.region_mask(sample.id, name)["id"])
        for name in (NAMES[sample.y], NAMES[c], "background")
    ]
    for token_mask, region in zip((b_mask, c_mask, bg), stored, strict=True):
        small = torch.nn.functional.interpolate(
            torch.from_numpy(region).float()[None, None], size=(size, size), mode="bilinear"
        )[0, 0]
        agree = ((token_mask > 0.5) == (small > 0.5)).float().mean()
        assert float(agree) > 0.85  # each token its own region
    assert float((b_mask - c_mask).abs().mean()) > 0.3  # not one foreground for every token
    torch.testing.assert_close(bg, 1 - torch.maximum(b_mask, c_mask))  # everything else
    # the masked loss of a prompt naming only [v_c] is c's mask, not the whole image
    batch = Batch(None, None, None, [None], None, None, [{names[1]: data.masks[names[1]][0]}])
    torch.testing.assert_close(loss_mask(batch, (size, size))[0, 0], c_mask)
    results = train_concepts(backbone, personalizer, [concept], [data], config, params)
    assert set(results[0].tokens) == set(names)  # N = 3 tokens learned
    # parts=object+context keeps the two tokens single-label projects get by default
    two = _plan(store, sample.id, parts="object+context")[3][0]
    assert [t.role for t in two.tokens] == ["object", "context"]


def test_a_label_without_its_mask_is_refused_before_a_job(multilabel):
    sample = multilabel.list_samples(SampleFilter(source="real", split="train"))[0]
    with pytest.raises(ValueError, match=f"sample {sample.id} has no grounded-sam mask of"):
        _plan(multilabel, sample.id, masks="grounded-sam")
    with pytest.raises(ValueError, match="unknown label"):
        _plan(multilabel, sample.id, labels="purple")


def test_removal_names_no_context_and_replacement_draws_a_sibling(tmp_path):
    store = tiny_multilabel(tmp_path / "proj")
    removal = DecoupleGenMultiParams()
    assert edit_prompt(removal, "digit 0", "<bg-5>") == "a photo of digit 0 at <bg-5>"
    replace = DecoupleGenMultiParams(edit="replacement")
    assert edit_prompt(replace, "digit 0", "<bg-5>", "green") == (
        "a photo of digit 0 and green at <bg-5>"
    )
    with pytest.raises(ValueError, match="removal_prompt may use only"):
        DecoupleGenMultiParams(removal_prompt="a photo of {b} and {d} at {bg}").check_inputs()
    assert siblings_of(store, "red") == ["green"]  # the demo's default: the other colours
    items = targets(store, GenerateConfig(method="decouplegen-multi"), replace)
    assert {(t.b, t.c) for t in items} == {(0, 2)} and len(items) == 4  # the designed pair
    assert all({t.b, t.c} <= store.label_sets([t.source])[t.source] for t in items)
    assert {t.siblings for t in items} == {(3,)}
    three = Target(1, 0, 0, 0, 2, siblings=(3, 4, 5))
    assert {sibling_for(three, s) for s in range(40)} == {3, 4, 5}  # uniform over the siblings
    store.semantic_siblings = lambda label: {2: [3]}.get(label, [])  # a supercategory {red, green}
    assert siblings_of(store, "red") == ["green"] and siblings_of(store, "green") == []
    (store.root / "siblings.json").write_text(json.dumps({"red": []}))
    with pytest.raises(ValueError, match="'red' has no semantic siblings"):
        targets(store, GenerateConfig(method="decouplegen-multi"), replace)


def test_verification_drops_an_image_where_the_context_is_found():
    base = {"b": "digit 0", "c": "red", "p_b": 0.9, "p_c": 0.0}
    assert verdict(base, 0.5).decision == "accept"
    assert verdict({**base, "p_c": 1.0}, 0.5) == PolicyVerdict(
        "reject", "digit 0 p=0.90 (found), red p=1.00 (found)"
    )
    assert verdict({**base, "p_b": 0.1}, 0.5).decision == "reject"  # b must be there
    with pytest.raises(ValueError, match="reader must be one of"):
        LabelPresencePolicyParams(reader="eyes").check_inputs()


def test_the_judge_reads_the_demos_digit_and_colour_box(multilabel):
    """The label-presence reader on real renders: the digit, and the box colour (not the frame)."""
    samples = multilabel.list_samples(SampleFilter(source="real", split="train"))[:8]
    names = [NAMES[s.y] for s in samples] + [NAMES[2 + s.a] for s in samples]
    found = presence(multilabel, samples + samples, names, LabelPresenceParams())
    assert min(found) >= 0.5
    others = [NAMES[2 + (1 - s.a)] for s in samples]
    assert max(presence(multilabel, samples, others, LabelPresenceParams())) == 0.0


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
    assert table.objects == ("digit 0",) and table.contexts == ("red", "green")
    assert table.original[0][0] == sum(2 in s for s in with_0) / len(with_0) > 0.5
    assert table.augmented == table.original and table.generated == 0
    with pytest.raises(ValueError, match="status must be one of"):
        cooccurrence(store, status="some")
    from ui.state import AppContext
    from ui.verify import cooccurrence_view

    figure, note = cooccurrence_view(AppContext(store, executor=None), "accepted")
    assert [t.type for t in figure.data] == ["heatmap", "heatmap"]
    assert figure.data[0].z[0][0] == table.original[0][0] and note.startswith("1 biased objects")


def _generate(root, backbone, *extra):
    args = ["generate", root, "--method", "decouplegen-multi", "--backbone", backbone]
    args += ["--per-group", "2", "--steps", "2", "--batch-size", "2"]
    return main([*args, "--param", "sources=2", "--param", "personalize_steps=1", *extra])


@pytest.mark.slow
def test_cli_removal_replacement_verify_and_cooccurrence(tmp_path, backbone_dir, capsys):
    store = tiny_multilabel(tmp_path / "proj")
    root = str(store.root)
    assert _generate(root, backbone_dir) == 0
    (job,) = [j for j in store.list_jobs() if j.kind == "personalize"]
    assert job.params["params"]["parts"] == "labels"
    removed = store.list_samples(SampleFilter(source="generated"))
    assert len(removed) == 4  # 1 pair x 2 sources x 2 images
    labels = store.label_sets([s.id for s in removed])
    for sample in removed:
        b, c = sample.meta["pair"]
        prompt = store.get_recipe(sample.recipe_id).prompt
        assert prompt == f"a photo of {NAMES[b]} at <bg-{sample.parent_id}>"
        assert NAMES[c] not in prompt and labels[sample.id] == {b}
    stored = np.asarray(store.sample_image(removed[-1].id))
    assert np.array_equal(np.asarray(regenerate_sample(store, removed[-1].id)), stored)
    key = f"image-{removed[0].parent_id}"
    preview = concept_preview(store, job.id, key, cached_backbone(backbone_dir), steps=1)
    assert len(preview.masks) == 3 and len(preview.attention) == 3  # [v_b], [v_c], [v_bg]
    assert _generate(root, backbone_dir, "--param", "edit=replacement") == 0
    replaced = [s for s in store.list_samples(SampleFilter(source="generated")) if s.id not in
                {r.id for r in removed}]  # fmt: skip
    assert len(store.list_jobs()) == 3  # the personalization was reused
    for sample in replaced:
        b, c = sample.meta["pair"]
        d = sample.meta["sibling"]
        assert (c, d) == (2, 3) and store.label_sets([sample.id])[sample.id] == {b, d}
        assert sample.a == 1  # recorded in the sibling's context
        assert store.get_recipe(sample.recipe_id).prompt.startswith(f"a photo of {NAMES[b]} and ")
    # a random backbone draws noise: with every label "found" at 0, c is found everywhere and
    # every image is dropped
    verify = ["verify", root, "--policy", "label-presence", "--param", "found_at=0"]
    assert main(verify) == 0
    assert not store.sample_ids(SampleFilter(source="generated", status="accepted"))
    assert len(store.sample_ids(SampleFilter(source="generated", status="rejected"))) == 8
    capsys.readouterr()
    assert main(["cooccurrence", root, "--status", "all", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["generated"] == 8 and shown["n_augmented"][0] == shown["n_original"][0] + 8
    red = shown["contexts"].index("red")
    assert shown["augmented"][0][red] < shown["original"][0][red]  # the edits lowered P(red|0)
    assert main(["siblings", root, "--set", "red=purple"]) == 2
    assert main(["siblings", root, "--set", "red=green", "--json"]) == 0
