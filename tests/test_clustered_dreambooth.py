"""Clustered DreamBooth: cluster pools, uniform assignment, borrowing, the CLI path end to end."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from debias_core.cli import main
from debias_core.generate import GENERATORS, GenerateConfig
from debias_core.generate.cluster_sources import sources
from debias_core.generate.cluster_units import cluster_order, images_of
from debias_core.generate.clustered_dreambooth import ClusteredDreamBoothParams
from debias_core.generate.recipes import regenerate_sample
from debias_core.jobs.foreground import run_personalization
from debias_core.store import SampleFilter

pytestmark = pytest.mark.usefixtures("fresh_backbone_cache")


def test_each_cluster_draws_m_over_k_images_from_a_seeded_order():
    k, m = 3, 10
    order = cluster_order(seed=5, y=1, a=0, k=k)
    assert sorted(order) == [0, 1, 2] and order == cluster_order(5, 1, 0, 3)
    assigned = [order[p] for p in range(k) for _ in images_of(p, k, m)]
    assert sorted(Counter(assigned).values()) == [3, 3, 4]  # M_cl x k = M, one extra drawn
    assert sorted(i for p in range(k) for i in images_of(p, k, m)) == list(range(m))
    orders = {tuple(cluster_order(seed, 1, 0, 3)) for seed in range(20)}
    assert len(orders) > 1  # the seed picks which clusters draw the extra images


def test_small_groups_borrow_their_class_largest_pool(tiny_project):
    groups = [(0, 0), (0, 1), (1, 0), (1, 1)]  # bias 0.9 of 40: 36 aligned, 4 conflicting
    found = sources(
        tiny_project, groups, ClusteredDreamBoothParams(min_group=10, borrow_from="class")
    )
    assert {g: (s.group, s.borrowed) for g, s in found.items()} == {
        (0, 0): ((0, 0), False),
        (0, 1): ((0, 0), True),
        (1, 0): ((1, 1), True),
        (1, 1): ((1, 1), False),
    }
    with pytest.raises(ValueError, match=r"\(0, 1\) \(4\).*fewer than min_group=10"):
        sources(tiny_project, groups, ClusteredDreamBoothParams(min_group=10, borrow=False))
    with pytest.raises(ValueError, match="no group of their class has that many"):
        sources(tiny_project, groups, ClusteredDreamBoothParams(min_group=50, borrow_from="class"))
    # the demo's default: the largest group with the small group's context lends its pool
    by_context = sources(tiny_project, groups, ClusteredDreamBoothParams(min_group=10))
    assert {g: s.group for g, s in by_context.items() if s.borrowed} == {
        (0, 1): (1, 1),
        (1, 0): (0, 0),
    }


def _generate(root, backbone_dir, *extra, seed=1):
    params = ["min_group=10", "clusters=2", "train_steps=2", "train_batch=4", *extra]
    args = ["generate", root, "--method", "clustered-dreambooth", "--backbone", backbone_dir]
    args += ["--per-group", "3", "--steps", "2", "--batch-size", "2", "--seed", str(seed)]
    return main(args + [a for p in params for a in ("--param", p)])


def test_generate_verify_train_from_the_cli(tiny_project, backbone_dir, capsys, monkeypatch):
    store, root = tiny_project, str(tiny_project.root)
    assert _generate(root, backbone_dir) == 0
    personalize = [j for j in store.list_jobs() if j.kind == "personalize"]
    assert [(j.status, j.params["method"]) for j in personalize] == [("done", "cluster-lora")]
    assert sorted(map(tuple, personalize[0].params["groups"])) == [(0, 0), (1, 1)]
    generated = store.list_samples(SampleFilter(source="generated"))
    assert Counter((s.y, s.a) for s in generated) == {
        g: 3 for g in [(0, 0), (0, 1), (1, 0), (1, 1)]
    }
    for sample in generated:
        recipe = store.get_recipe(sample.recipe_id)
        lora = store.get_artifact(recipe.params["lora"])  # its own; the recipe names the batch's
        assert lora.id in [ref["id"] for ref in recipe.adapters["artifacts"]]
        assert recipe.params["personalization"] == personalize[0].id
        assert (lora.y, lora.a) == tuple(recipe.params["source_group"])
        assert lora.cluster == recipe.params["cluster"] == sample.meta["cluster"]
        if recipe.params["borrowed"]:  # Section A.5: the donor's LoRA, no identifier token
            assert recipe.params["token"] is None and "<v-" not in recipe.prompt
            assert (lora.y, lora.a) != (sample.y, sample.a)
        else:
            token = store.get_artifact(recipe.params["token"]).name
            assert token == f"<v-{sample.y}-{sample.a}-{lora.cluster}>" and token in recipe.prompt
    # per-sample adapters: a batch mixes clusters, each row with its own LoRA
    rows = [store.get_recipe(s.recipe_id).params["batch"]["lora_rows"] for s in generated]
    assert any(len(set(r)) > 1 for r in rows)
    for group in [(0, 0), (0, 1), (1, 0), (1, 1)]:  # 3 images over 2 clusters: 2 + 1
        members = [s for s in generated if (s.y, s.a) == group]
        per_cluster = Counter(store.get_recipe(s.recipe_id).params["cluster"] for s in members)
        assert sorted(per_cluster.values()) == [1, 2]
    for sample in generated[:2] + generated[-2:]:  # recipes replay bit-exactly
        replayed = np.asarray(regenerate_sample(store, sample.id))
        assert np.array_equal(replayed, np.asarray(store.sample_image(sample.id)))

    first_job = generated[0].job_id
    # another seed, the paper's 0.999 emphasis: the same cluster pool
    assert _generate(root, backbone_dir, "emphasis=true", seed=2) == 0
    assert [j.id for j in store.list_jobs() if j.kind == "personalize"] == [personalize[0].id]
    assert len(store.list_samples(SampleFilter(source="generated"))) == 24
    second = [
        s for s in store.list_samples(SampleFilter(source="generated")) if s.job_id != first_job
    ]
    borrowed = [s for s in second if store.get_recipe(s.recipe_id).params["borrowed"]]
    assert borrowed
    for sample in borrowed:  # "((context))" and the other context negated, as the paper's A.6
        recipe = store.get_recipe(sample.recipe_id)
        assert "((" in recipe.prompt and recipe.negative_prompt.startswith("((")
    replayed = np.asarray(regenerate_sample(store, borrowed[0].id))
    assert np.array_equal(replayed, np.asarray(store.sample_image(borrowed[0].id)))
    _borrowed_groups_draw_at_their_lora_weight(store, root, backbone_dir, monkeypatch)
    capsys.readouterr()

    verify = ["verify", root, "--policy", "clip-top-m", "--job", str(first_job)]
    assert main(verify + ["--param", "m=2"]) == 0
    assert "policy clip-top-m: 8 accept, 4 reject" in capsys.readouterr().out
    accepted = store.sample_ids(SampleFilter(source="generated", status="accepted"))
    assert len(accepted) == 8

    train = ["train", root, "--method", "ffr-llr", "--synthetic", "accepted", "--epochs", "1"]
    assert main(train + ["--batch-size", "32", "--json"]) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    run = store.get_run(run_id)
    assert sorted(run.synthetic_ids) == sorted(accepted)
    stages = [row.get("stage") for row in run.metrics["history"]]
    assert stages[0] == "1:supcon" and stages[-1] == "2:llr"  # CE + SupCon, then LLR_all


def _borrowed_groups_draw_at_their_lora_weight(store, root, backbone_dir, monkeypatch):
    """borrowed_lora_scale / own_lora_scale: the donor's LoRA is attached at the one weight in
    borrowed groups, the own pools' LoRAs at the other, in the same mixed batches; the recipe
    names each row's weight, and replay attaches them at the same weights."""
    from debias_core.models import lora_batched

    scalings = []  # the stacked adapters' scalings, per attach
    attach = lora_batched.attach_lora_files

    def spy(unet, files):
        scalings.append([f.scaling for f in files])
        return attach(unet, files)

    monkeypatch.setattr(lora_batched, "attach_lora_files", spy)
    before = {s.id for s in store.list_samples(SampleFilter(source="generated"))}
    weights = ("borrowed_lora_scale=0.25", "own_lora_scale=0.5")
    assert _generate(root, backbone_dir, *weights, seed=3) == 0
    made = [s for s in store.list_samples(SampleFilter(source="generated")) if s.id not in before]
    drawn = {round(x, 9) for batch in scalings for x in batch}
    full = max(drawn) / 0.5  # every LoRA here has one alpha / rank: at a half and a quarter
    assert drawn == {round(full * 0.5, 9), round(full * 0.25, 9)}
    for sample in made:
        recipe = store.get_recipe(sample.recipe_id)
        expected = 0.25 if recipe.params["borrowed"] else 0.5
        assert recipe.adapters.get("weight") == expected
        batch = recipe.params["batch"]
        assert batch["lora_row_weights"][recipe.params["index"]] == expected
    borrowed = next(s for s in made if store.get_recipe(s.recipe_id).params["borrowed"])
    scalings.clear()
    replayed = np.asarray(regenerate_sample(store, borrowed.id))
    assert round(full * 0.25, 9) in {round(x, 9) for x in scalings[0]}
    assert np.array_equal(replayed, np.asarray(store.sample_image(borrowed.id)))


def test_bad_input_is_refused_before_any_job(
    tiny_project, backbone_dir, capsys, tmp_path, monkeypatch
):
    store, root = tiny_project, str(tiny_project.root)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("DEBIAS_CHECKPOINTS", str(tmp_path / "ckpt"))
    assert _generate(root, backbone_dir, "features=clip:vit-b-32") == 2
    err = capsys.readouterr().err
    assert "needs a personalize job first" in err and "openai/clip-vit-base-patch32" in err
    assert _generate(root, backbone_dir, "borrow=false") == 2
    assert "fewer than min_group=10 real train images" in capsys.readouterr().err
    assert _generate(root, backbone_dir, "clusters=40") == 2  # 36 images cannot make 40 clusters
    err = capsys.readouterr().err
    assert "needs a personalize job first" in err and "k-means with 40 clusters" in err
    assert store.list_jobs() == []

    group_lora = run_personalization(
        store, {"method": "group-lora", "backbone": backbone_dir, "steps": 1, "groups": [[0, 0]]}
    )
    assert _generate(root, backbone_dir, f"personalization={group_lora}") == 2
    assert f"job {group_lora} trained group-lora, not cluster-lora" in capsys.readouterr().err
    assert _generate(root, backbone_dir, "personalization=99") == 2
    assert "there is no job 99" in capsys.readouterr().err
    assert [j.kind for j in store.list_jobs()] == ["personalize"]


def test_plan_needs_the_pool_of_every_group(tiny_project, backbone_dir):
    job = run_personalization(
        tiny_project,
        {
            "method": "cluster-lora",
            "backbone": backbone_dir,
            "steps": 1,
            "groups": [[0, 0]],
            "params": {"clusters": 2},
        },
    )
    generator = GENERATORS.get("clustered-dreambooth")
    config = GenerateConfig(
        method="clustered-dreambooth",
        backbone=backbone_dir,
        groups=((0, 0), (0, 1), (1, 1)),
        per_group=5,
        batch_size=2,
        params={"personalization": job, "min_group": 10, "borrow_from": "class"},
    )
    with pytest.raises(ValueError, match=r"no cluster LoRAs for group\(s\) \[\(1, 1\)\]"):
        generator.check(tiny_project, config)
    config = GenerateConfig(**{**config.__dict__, "groups": ((0, 0), (0, 1))})
    generator.check(tiny_project, config)
    # one cluster per batch: per group, clusters get 3 and 2 images -> 2 + 1 units; two groups
    alone = GenerateConfig(
        **{**config.__dict__, "params": {**config.params, "per_sample_adapters": False}}
    )
    units = generator.plan(tiny_project, alone, list(config.groups))
    assert len(units) == 6 and [len(u.seeds) for u in units].count(1) == 2
    assert len({u.key for u in units}) == 6 and all(
        len({r["cluster"] for r in u.extra["rows"]}) == 1 for u in units
    )
    # per-sample adapters: the same 10 images in 5 full batches, some spanning clusters
    units = generator.plan(tiny_project, config, list(config.groups))
    assert len(units) == 5 and [len(u.seeds) for u in units] == [2] * 5
    assert len({u.key for u in units}) == 5 and any(
        len({r["cluster"] for r in u.extra["rows"]}) == 2 for u in units
    )
    assert sorted(s for u in units for s in u.seeds) == sorted(
        s for u in generator.plan(tiny_project, alone, list(config.groups)) for s in u.seeds
    )
    assert units[-1] == list(units)[-1] and units[1:3] == [units[1], units[2]]
    again = generator.plan(tiny_project, config, list(config.groups))
    assert list(again) == list(units)  # a resumed job plans the same units, keys and seeds


def test_cluster_count_rounds_as_the_papers_appendix_a4():
    from debias_core.personalize.cluster_lora import cluster_count

    # Waterbirds 56 -> 3, UTKFace 103 -> 5, CelebA 1387 -> the cap of 20 (paper, A.4)
    assert [cluster_count(n) for n in (56, 103, 1387)] == [3, 5, 20]
    assert [cluster_count(n) for n in (0, 9, 10, 29, 30)] == [1, 1, 1, 1, 2]
