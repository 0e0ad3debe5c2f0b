"""DBB (seed 003): low-loss sources, edit regions, masked inpainting, the whole CLI path."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from debias_core.bias.mining import lowest_loss_per_class
from debias_core.cli import main
from debias_core.generate import GENERATORS, GenerateConfig
from debias_core.generate.dbb import DbbParams, low_loss_sources
from debias_core.generate.dbb_inpaint import start_index
from debias_core.generate.decouplegen import object_prompt
from debias_core.generate.recipes import regenerate_sample
from debias_core.models.segmenters.regions import (
    edit_region,
    grow_mask,
    latent_cells,
    recipe_region,
)
from debias_core.store import SampleFilter, Store
from debias_core.train.dbb_retrain import dbb_loss, per_class_loss
from debias_core.train.tensors import Tensors
from debias_core.verify.resources import source_mask


# -- pieces on hand-made arrays ------------------------------------------------------------------
def test_edit_region_grows_the_mask_then_takes_whole_latent_cells():
    mask = np.zeros((8, 8), bool)
    mask[3, 3] = True
    assert grow_mask(mask, 1).sum() == 9 and grow_mask(mask, 1)[2:5, 2:5].all()
    assert latent_cells(mask, 4).tolist() == [[True, False], [False, False]]
    region = edit_region(mask, 8, grow=0, cell=4)
    assert region[:4, :4].all() and region.sum() == 16
    region = edit_region(mask, 8, grow=1, cell=4)  # the grown pixel (4, 4) touches cell (1, 1)
    assert region.all()
    region = edit_region(mask, 8, grow=1, cell=2)
    expected = np.zeros((8, 8), bool)
    expected[2:6, 2:6] = True
    assert np.array_equal(region, expected)
    with pytest.raises(ValueError, match="not a multiple"):
        edit_region(mask, 6, 0, 4)


def test_lowest_loss_per_class_reads_class_labels_only():
    ids = np.array([10, 11, 12, 13, 14, 15, 16])
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    losses = np.array([0.3, 0.1, 0.3, 2.0, 0.0, 0.5, 0.5])
    chosen = lowest_loss_per_class(ids, labels, losses, 2)
    assert {c: v.tolist() for c, v in chosen.items()} == {0: [11, 10], 1: [14, 15]}


def test_lowest_loss_portion_of_each_class():
    ids = np.arange(10, 20)
    labels = np.array([0] * 4 + [1] * 6)
    losses = np.array([0.4, 0.1, 0.3, 0.2, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    chosen = lowest_loss_per_class(ids, labels, losses, k=1, portion=0.5)
    assert {c: v.tolist() for c, v in chosen.items()} == {0: [11, 13], 1: [19, 18, 17]}
    whole = lowest_loss_per_class(ids, labels, losses, k=1, portion=1.0)
    assert [len(v) for v in whole.values()] == [4, 6]
    tiny = lowest_loss_per_class(ids, labels, losses, k=1, portion=0.01)
    assert [len(v) for v in tiny.values()] == [1, 1]  # at least one


def test_ig_totals_are_the_change_of_the_softmax_or_of_the_logit():
    """Completeness (Eq. 4): the attributions sum to f_j(x') - f_j(x), f_j the class's softmax
    or, the paper's reading, its logit (which a softmax IG can never exceed 1 of)."""
    from debias_core.verify.scorers.ig_in_mask import integrated_gradients

    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(2, 12, generator=gen) * 3)
    source, target = torch.zeros(1, 3, 2, 2), torch.rand(1, 3, 2, 2, generator=gen) * 2
    for output, f in (("softmax", lambda x: model(x).softmax(1)), ("logit", model)):
        ig = integrated_gradients(model, source, target, [1], 64, output)
        expected = (f(target) - f(source))[0, 1].detach()
        torch.testing.assert_close(ig.sum(), expected, atol=2e-3, rtol=1e-3)
    logit = integrated_gradients(model, source, target, [1], 64, "logit").sum()
    assert abs(float(logit)) > 1.0  # out of the softmax's reach


def test_strength_starts_the_schedule_where_diffusers_img2img_does():
    assert start_index(10, 1.0) == 0
    assert start_index(10, 0.5) == 5
    assert start_index(4, 0.3) == 3
    with pytest.raises(ValueError, match="leaves no step"):
        start_index(4, 0.2)


def test_retrain_loss_is_eq_6_with_one_term_per_target_class():
    y = torch.tensor([0, 1, 2, 0, 1, 1, 2])
    synthetic = torch.tensor([False, False, False, True, True, True, True])
    batch = Tensors(
        torch.zeros(7, 3, 2, 2), y, torch.zeros(7, dtype=torch.long), torch.arange(7), synthetic
    )
    logits = torch.randn(7, 3, generator=torch.Generator().manual_seed(0))
    per = F.cross_entropy(logits, y, reduction="none")
    expected = per[:3].mean() + 2.0 * per[3] + 3.0 * per[4:6].mean() + 0.5 * per[6]
    torch.testing.assert_close(per_class_loss([2.0, 3.0, 0.5])(logits, None, batch, None), expected)
    binary = batch  # the seed's binary form: gamma1 for class 0's set, gamma2 for the rest
    expected2 = per[:3].mean() + 4.0 * per[3] + 1.0 * per[4:6].mean() + 1.0 * per[6]
    torch.testing.assert_close(dbb_loss(4.0, 1.0, 0, 3)(logits, None, binary, None), expected2)


def test_params_are_checked():
    with pytest.raises(ValueError, match="strength"):
        DbbParams(strength=0.0).check_inputs()
    with pytest.raises(ValueError, match="must contain \\{token\\}"):
        DbbParams(prompt="a photo of a {class}").check_inputs()
    with pytest.raises(ValueError, match="grow"):
        DbbParams(grow=-1).check_inputs()
    with pytest.raises(ValueError, match="portion"):
        DbbParams(portion=1.5).check_inputs()
    with pytest.raises(ValueError, match="outside"):
        DbbParams(outside="blurred").check_inputs()


# -- on the tiny project with the dummy backbone --------------------------------------------------
@pytest.fixture
def erm_run(tiny_project):
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    return run_training(tiny_project, TrainConfig(method="erm", epochs=2, batch_size=16)).run_id


TINY = ["--param", "k=2", "--param", "ti_steps=2", "--param", "ti_samples=4", "--steps", "3"]


def _generate(store, backbone, run_id, *extra) -> int:
    args = ["generate", str(store.root), "--method", "dbb", "--run", str(run_id)]
    return main([*args, "--backbone", backbone, *TINY, *extra])


def test_cli_path_generate_verify_retrain(tiny_project, backbone_dir, erm_run, capsys):
    store, root = tiny_project, str(tiny_project.root)
    assert _generate(store, backbone_dir, erm_run, "--per-group", "2") == 0
    jobs = {j.kind: j for j in store.list_jobs()}
    assert jobs["personalize"].status == "done" and jobs["generate"].status == "done"
    generated = store.list_samples(SampleFilter(source="generated"))
    sources = low_loss_sources(store, DbbParams(run=erm_run, k=2))
    # 2 classes x K=2 sources x 1 other class x N=2
    assert len(generated) == 8
    for sample in generated:
        recipe = store.get_recipe(sample.recipe_id)
        parent = store.get_sample(sample.parent_id)
        assert parent.id in sources[parent.y] and sample.y == 1 - parent.y  # i -> j
        assert sample.a == parent.a  # the target group is (j, the source's context)
        assert recipe.mask_id == store.find_mask(parent.id, segmenter="dataset")["id"]
        # name_context (the demo default): the caption form naming the source's context
        named = object_prompt(store.meta(), sample.y, parent.a, f"<c-{sample.y}>")
        assert recipe.prompt == named and "background" in named
        assert [a["name"] for a in recipe.tokens["artifacts"]] == [f"<c-{sample.y}>"]
        # outside the edit region the source's pixels, inside something new
        region = source_mask(store, sample, "dataset")
        size = region.shape[0]
        source = np.asarray(store.sample_image(parent.id).resize((size, size), 2))
        image = np.asarray(store.sample_image(sample.id))
        assert np.array_equal(image[~region], source[~region])
        assert not np.array_equal(image[region], source[region])
        assert region.sum() > store.mask_pixels(recipe.mask_id).sum() / (32 / size) ** 2
    for sample in generated[:3]:  # recipes replay bit-exactly (tokens attached from the recipe)
        replayed = np.asarray(regenerate_sample(store, sample.id))
        assert np.array_equal(replayed, np.asarray(store.sample_image(sample.id)))

    capsys.readouterr()
    assert main(["verify", root, "--policy", "dbb", "--run", str(erm_run)]) == 0
    assert "policy dbb:" in capsys.readouterr().out
    scored = store.latest_scores([s.id for s in generated], "ig-in-mask")
    assert len(scored) == 8  # every sample had its recipe's mask
    accepted = store.sample_ids(SampleFilter(source="generated", status="accepted"))
    decided = store.sample_ids(SampleFilter(source="generated", status="rejected"))
    assert len(accepted) + len(decided) == 8
    assert accepted  # the random backbone's edits still move the weak ERM model
    params = f'{{"run": {erm_run}, "gammas": [2, 3]}}'
    args = ["train", root, "--method", "dbb-retrain", "--synthetic", "accepted"]
    assert main([*args, "--epochs", "1", "--params", params]) == 0
    assert sorted(store.get_run(erm_run + 1).synthetic_ids) == sorted(accepted)

    # another seed reuses the textual-inversion job instead of training it again
    assert _generate(store, backbone_dir, erm_run, "--per-group", "1", "--seed", "1") == 0
    assert [j.kind for j in store.list_jobs()].count("personalize") == 1


def test_no_group_label_is_read(tiny_project, backbone_dir, erm_run, tmp_path):
    """Scrambling every group label gives the same plan and the same images (the paper's DBB:
    name_context=false; the demo default names each source's context, which reads it)."""
    paper = ("--param", "name_context=false")
    assert _generate(tiny_project, backbone_dir, erm_run, "--per-group", "1", *paper) == 0
    ti = next(j.id for j in tiny_project.list_jobs() if j.kind == "personalize")
    copy = Store.open(shutil.copytree(tiny_project.root, tmp_path / "scrambled"))
    rng = np.random.default_rng(0)
    with copy.write() as db:
        for row in list(db.query("select id from samples")):
            db.execute("update samples set a = ? where id = ?", [int(rng.integers(2)), row["id"]])
    before, after = [s.a for s in tiny_project.list_samples()], [s.a for s in copy.list_samples()]
    assert sum(a != b for a, b in zip(before, after, strict=True)) > 50
    params = {"run": erm_run, "k": 2, "personalization": ti, "name_context": False}
    config = GenerateConfig(
        method="dbb", backbone=backbone_dir, per_group=1, steps=2, params=params
    )
    generator = GENERATORS.get("dbb")
    plans = [generator.plan(s, config, []) for s in (tiny_project, copy)]
    assert plans[0] == plans[1] and len(plans[0]) == 2
    from debias_core.models.cache import cached_backbone

    backbone = cached_backbone(backbone_dir)
    images = [generator.render(backbone, plans[0][0], config, s) for s in (tiny_project, copy)]
    for a, b in zip(*images, strict=True):
        assert np.array_equal(a.image, b.image) and a.y == b.y and a.recipe == b.recipe
    # strength < 1 starts from the source noised part-way: other pixels, same outside
    half = dataclasses.replace(config, steps=4, params=params | {"strength": 0.5})
    full = dataclasses.replace(config, steps=4)
    drawn = [generator.render(backbone, plans[0][0], c, tiny_project) for c in (half, full)]
    recipe = drawn[0][0].recipe
    region = recipe_region(tiny_project.mask_pixels(recipe.mask_id), recipe.params)
    a, b = drawn[0][0].image, drawn[1][0].image
    assert np.array_equal(a[~region], b[~region]) and not np.array_equal(a[region], b[region])


def test_bad_input_is_refused_before_any_job(tiny_project, backbone_dir, erm_run, capsys):
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    store, root = tiny_project, str(tiny_project.root)
    base = ["generate", root, "--method", "dbb", "--backbone", backbone_dir]

    def refused(*args) -> str:
        assert main([*base, *args]) == 2
        return capsys.readouterr().err

    assert "needs the ERM classifier" in refused()
    assert "there is no run 9" in refused("--run", "9")
    gce = run_training(store, TrainConfig(method="gce", epochs=1)).run_id
    err = refused("--run", str(gce))
    assert "trained with gce, not erm" in err and "--method erm" in err
    assert "k=41 but class 0" in refused("--run", str(erm_run), "--param", "k=41")
    err = refused("--run", str(erm_run), "--param", "personalization=99")
    assert "no job 99" in err and "textual-inversion" in err
    err = refused("--run", str(erm_run), "--param", "segmenter=grounded-sam")
    assert "grounding-dino" in err.lower()  # the missing checkpoint is named
    assert "unknown segmenter" in refused("--run", str(erm_run), "--param", "segmenter=nope")
    err = refused("--run", str(erm_run), "--param", "ti_from=random", "--param", "ti_samples=500")
    assert "dbb needs a personalize job first" in err
    assert [j.kind for j in store.list_jobs()] == []
    with store.write() as db:  # a dataset without masks of its own
        db.execute("delete from masks")
    assert "ships none" in refused("--run", str(erm_run))
    assert store.list_jobs() == []


def test_retrain_continues_from_the_erm_run(tiny_project, erm_run):
    from generated_samples import add_generated, train_ids
    from safetensors.torch import load_file

    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    store = tiny_project
    zero = train_ids(store, 0, 0)
    add_generated(store, [(zero[0], zero[0], 1, 0), (zero[1], zero[1], 1, 0)])
    # a vanishing learning rate: the retrained model is the ERM model it started from
    params = {"run": erm_run, "retrain_lr": 1e-12}
    config = TrainConfig(method="dbb-retrain", epochs=1, batch_size=16, synthetic="all")
    result = run_training(store, dataclasses.replace(config, params=params))
    start = load_file(store.run_dir(store.get_run(erm_run)) / "model.safetensors")
    end = load_file(f"{result.run_dir}/model.safetensors")
    weights = [k for k in start if "running_" not in k and "num_batches" not in k]  # not BN stats
    assert weights and all(torch.allclose(start[k], end[k], atol=1e-6) for k in weights)
    # no ERM trained again: the ERM run scored as epoch 0, then one retraining epoch
    assert [(h["stage"], h["epoch"]) for h in result.history] == [("retrain", 0), ("retrain", 1)]
    with pytest.raises(ValueError, match="has arch 'spatial-cnn'"):
        other = dataclasses.replace(config, arch="resnet18", params=params)
        run_training(store, other)
    with pytest.raises(ValueError, match="gammas needs 2 numbers"):
        run_training(store, dataclasses.replace(config, params={"gammas": "1,2,3"}))


def test_grounded_sam_masks_run_as_a_segment_job_first(
    tiny_project, backbone_dir, erm_run, tmp_path
):
    from debias_core.models.dummy import tiny_grounded_sam

    detector, sam = tiny_grounded_sam(tmp_path / "gsam")
    nested = json.dumps(
        {"detector": str(detector), "sam": str(sam), "box_threshold": 0.0, "text_threshold": 0.0}
    )
    args = ["--param", "segmenter=grounded-sam", "--param", f"segmenter_params={nested}"]
    assert _generate(tiny_project, backbone_dir, erm_run, "--per-group", "1", *args) == 0
    kinds = [j.kind for j in tiny_project.list_jobs()]
    assert sorted(kinds) == ["generate", "personalize", "segment"]
    for sample in tiny_project.list_samples(SampleFilter(source="generated")):
        mask = tiny_project.get_mask(tiny_project.get_recipe(sample.recipe_id).mask_id)
        assert mask["segmenter"] == "grounded-sam" and mask["sample_id"] == sample.parent_id
        assert (
            mask["prompt"] == tiny_project.class_names[tiny_project.get_sample(sample.parent_id).y]
        )


def test_textual_inversion_on_high_loss_samples_needs_no_group_label(tiny_project, erm_run):
    from debias_core.generate.dbb import _train_losses, ti_job

    store = tiny_project
    params = DbbParams(run=erm_run, ti_samples=4)  # ti_from="high-loss", the default
    job = ti_job(store, GenerateConfig(method="dbb"), params)
    ids, labels, losses = _train_losses(str(store.root), erm_run)
    by_class = {c: sorted(ids[labels == c], key=lambda i: -losses[ids == i][0]) for c in (0, 1)}
    assert job["samples"] == sorted(by_class[0][:4] + by_class[1][:4]) and "classes" not in job
    aligned = store.aligned_attrs()
    picked = [store.get_sample(i) for i in job["samples"]]
    assert sum(s.a != aligned[s.y] for s in picked) >= 6  # 8 of the 8 conflicting here
    random = DbbParams(run=erm_run, ti_from="random")
    assert ti_job(store, GenerateConfig(method="dbb"), random)["classes"] == [0, 1]


def test_name_context_names_each_sources_context_in_prompt_and_inversion(tiny_project, erm_run):
    """name_context=true (the sweep's winner on the embedded model): the inpainting prompt and
    the textual inversion's template name the source's own context, in the caption form."""
    from types import SimpleNamespace

    from debias_core.generate.dbb import source_contexts, target_units, ti_template_for

    store, token = tiny_project, SimpleNamespace(name="<c-1>", id=7)
    plain, named = DbbParams(run=erm_run, name_context=False), DbbParams(run=erm_run)
    named = dataclasses.replace(named, name_context=True)
    assert "{ctx}" not in ti_template_for(store, plain) and "{ctx}" in ti_template_for(store, named)
    sources = store.list_samples(SampleFilter(source="real", split="train", y=0))[:2]
    ids = [s.id for s in sources]
    assert source_contexts(store, plain, ids) == {}
    contexts = source_contexts(store, named, ids)
    assert contexts == {s.id: s.a for s in sources}
    config = GenerateConfig(method="dbb", per_group=1)
    masked = [(i, None) for i in ids]
    units = target_units(store, config, named, 0, 1, masked, token, contexts)
    prompts = [p for u in units for p in u.prompts]
    colours = [store.attr_names[s.a] for s in sources]
    assert all(
        f"on a {c} background" in p and "<c-1>" in p for p, c in zip(prompts, colours, strict=True)
    )
    unnamed = target_units(store, config, plain, 0, 1, masked, token, {})
    assert all("background" not in p for u in unnamed for p in u.prompts)
