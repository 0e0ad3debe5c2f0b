"""DecoupleGen: sources, prompts, the personalization it needs, generation, replay, CLI path."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from live_app import save_dummy_backbone

from debias_core.cli import main
from debias_core.generate import GenerateConfig
from debias_core.generate.decouplegen import (
    DecoupleGenParams,
    SourceBatches,
    Target,
    choose_sources,
    object_prompt,
    targets,
)
from debias_core.generate.recipes import regenerate_sample
from debias_core.models.cache import cached_backbone, clear_backbone_cache
from debias_core.store import SampleFilter

DIGITS = {"dataset": "colored-digits", "class_names": ["digit 3"], "attr_names": ["red", "green"]}


# -- pieces ---------------------------------------------------------------------------------------
def test_the_object_token_takes_the_class_words_place():
    assert object_prompt(DIGITS, 0, 1, "<o-7>") == (
        "a photo of <o-7> 3, white stroke, on a green background"
    )
    birds = {"dataset": "waterbirds", "class_names": ["landbird"], "attr_names": ["land", "water"]}
    assert object_prompt(birds, 0, 1, "<o-7>") == "a photo of <o-7>, on water"
    template = "a photo of {object} on a {context_name} background ({class})"
    assert object_prompt(DIGITS, 0, 0, "<o-7>", template) == (
        "a photo of <o-7> on a red background (digit 3)"
    )


@pytest.mark.parametrize(
    "values, message",
    [
        ({"sources": "some"}, "sources must be one of"),
        ({"sources": "majority:0"}, "majority:N needs a whole N >= 1"),
        ({"sources": "ids:4,x"}, "ids like ids:4,17"),
        ({"prompt": "a photo of {context}"}, "must contain {object}"),
        ({"prompt": "{object} {colour}"}, "may use only"),
        ({"personalization": -1}, "must be a job id"),
    ],
)
def test_params_are_checked(values, message):
    with pytest.raises(ValueError, match=message):
        DecoupleGenParams(**values).check_inputs()


def test_sources_are_majority_samples_and_targets_every_other_context(tiny_project):
    store = tiny_project
    aligned = store.aligned_attrs()
    ids = choose_sources(store, DecoupleGenParams(sources="majority:3"), seed=0)
    samples = store.list_samples(SampleFilter(ids=ids))
    assert len(samples) == 6 and all(s.a == aligned[s.y] and s.split == "train" for s in samples)
    assert ids != choose_sources(store, DecoupleGenParams(sources="majority:3"), seed=1)
    config = GenerateConfig(method="decouplegen")
    items = targets(store, config, DecoupleGenParams(sources="majority:3"))
    assert [t.contexts for t in items] == [(1 - aligned[t.y],) for t in items]  # 2 colours
    only = GenerateConfig(method="decouplegen", groups=((0, 1 - aligned[0]),))
    assert {t.y for t in targets(store, only, DecoupleGenParams(sources="majority:3"))} == {0}


def test_the_plan_is_n_per_source_and_context_in_batches():
    items = [Target(10, 0, 0, (1, 2)), Target(11, 1, 1, (0,))]

    def pieces(index, parts):
        return [(t.source, js) for t, js in parts]

    plan = SourceBatches(items, per_target=3, batch_size=4, make=pieces)
    assert len(plan) == 3  # source 10: 2 contexts x 3 = 6 images in 4 + 2; source 11: 3
    assert list(plan) == [[(10, range(0, 4))], [(10, range(4, 6))], [(11, range(0, 3))]]
    assert plan[-1] == plan[2] and plan[1:] == [plan[1], plan[2]]
    with pytest.raises(IndexError):
        plan[3]
    mixed = SourceBatches(items, per_target=3, batch_size=4, make=pieces, mixed=True)
    assert list(mixed) == [[(10, range(0, 4))], [(10, range(4, 6)), (11, range(0, 2))],
                           [(11, range(2, 3))]]  # fmt: skip
    huge = SourceBatches(items * 1000, per_target=10**5, batch_size=8, make=pieces)
    assert len(huge) == 1000 * (25_000 + 12_500)
    assert huge[len(huge) - 1] == [(11, range(99_992, 10**5))]
    huge_mixed = SourceBatches(
        items * 1000, per_target=10**5, batch_size=7, make=pieces, mixed=True
    )
    assert len(huge_mixed) == -(-1000 * 300_000 // 7)
    assert huge_mixed[1] == [(10, range(7, 14))]


# -- the whole path on the dummy backbone ---------------------------------------------------------
@pytest.fixture
def backbone_dir(tmp_path):
    folder = str(save_dummy_backbone(tmp_path / "backbone"))
    clear_backbone_cache()
    yield folder
    clear_backbone_cache()


def _generate(root, backbone, *extra):
    args = ["generate", root, "--method", "decouplegen", "--backbone", backbone]
    args += ["--per-group", "2", "--steps", "2", "--batch-size", "4"]
    return main([*args, "--param", "sources=majority:1", "--param", "personalize_steps=2", *extra])


def test_cli_generate_verify_train_and_bit_exact_replay(tiny_project, backbone_dir, capsys):
    store, root = tiny_project, str(tiny_project.root)
    aligned = store.aligned_attrs()
    assert _generate(root, backbone_dir) == 0
    personalize = [j for j in store.list_jobs() if j.kind == "personalize"]
    assert [(j.status, j.params["method"]) for j in personalize] == [("done", "per-image")]
    sources = personalize[0].params["samples"]
    assert len(sources) == 2  # one per class, from its bias-aligned group
    generated = store.list_samples(SampleFilter(source="generated"))
    assert len(generated) == 4  # 2 sources x 1 other context x 2
    for sample in generated:
        source = store.get_sample(sample.parent_id)
        assert sample.parent_id in sources and source.a == aligned[source.y]
        assert sample.y == source.y and sample.a != source.a  # same class, the new context
        recipe = store.get_recipe(sample.recipe_id)
        assert recipe.method == "decouplegen" and recipe.source_ids == (source.id,)
        # one batch mixes both sources (per-sample adapters): the recipe names the batch's files
        assert len(recipe.tokens["artifacts"]) == len(recipe.adapters["artifacts"]) == 2
        learned = {a.id: a for a in store.list_artifacts(job_id=personalize[0].id)}
        assert all(learned[t["id"]].sha256 == t["sha256"] for t in recipe.tokens["artifacts"])
        concept = f"image-{source.id}"
        (token,) = [t for t in recipe.tokens["artifacts"] if learned[t["id"]].concept == concept]
        (lora,) = [a for a in recipe.adapters["artifacts"] if learned[a["id"]].concept == concept]
        rows = recipe.params["batch"]["lora_rows"]  # this image's row draws with its own LoRA
        assert rows[recipe.params["index"]] == lora["id"] and len(set(rows)) == 2
        assert recipe.prompt.startswith(f"a photo of {token['name']} ")
        assert recipe.params["method"]["personalization"] == personalize[0].id
    with warnings.catch_warnings():  # the job's model, unchanged (else: a warning, a reload)
        warnings.simplefilter("error")
        shared = cached_backbone(backbone_dir)
    assert not [t for t in shared.tokenizer.get_vocab() if t.startswith("<o-")]
    assert shared.adapters() == []
    for sample in generated[:3]:
        stored = np.asarray(store.sample_image(sample.id))
        assert np.array_equal(np.asarray(regenerate_sample(store, sample.id)), stored)

    # a rerun reuses the personalization and the finished generation: nothing new
    assert _generate(root, backbone_dir) == 0
    assert len([j for j in store.list_jobs() if j.kind == "personalize"]) == 1
    assert store.count_samples(SampleFilter(source="generated")) == 4

    # the user's own personalization job, with the images it learned as sources
    own = ["--param", f"personalization={personalize[0].id}", "--seed", "1"]
    assert _generate(root, backbone_dir, *own, "--param", "sources=personalized") == 0
    assert len([j for j in store.list_jobs() if j.kind == "personalize"]) == 1
    assert store.count_samples(SampleFilter(source="generated")) == 8
    unlearned = next(i for i in store.sample_ids(SampleFilter(source="real")) if i not in sources)
    assert _generate(root, backbone_dir, *own, "--param", f"sources=ids:{unlearned}") == 2
    assert f"learned no object token and LoRA for source sample {unlearned}" in (
        capsys.readouterr().err
    )
    # tokens only: one batch mixes sources, each row with its own token; replay redraws it
    mix = ["--param", "sources=personalized", "--param", "lora=false", "--batch-size", "3"]
    assert _generate(root, backbone_dir, *own, *mix) == 0
    tokens_only = max(j.id for j in store.list_jobs() if j.kind == "generate")
    mixed = store.list_samples(SampleFilter(job_id=tokens_only))
    assert len(mixed) == 4 and len({s.parent_id for s in mixed}) == 2
    spanning = next(s for s in mixed if len(store.get_recipe(s.recipe_id).tokens["artifacts"]) == 2)
    assert store.get_recipe(spanning.recipe_id).adapters["artifacts"] == []
    stored = np.asarray(store.sample_image(spanning.id))
    assert np.array_equal(np.asarray(regenerate_sample(store, spanning.id)), stored)
    for j in store.list_jobs():  # drop the seed-1 images: the rows below count the first run's
        if j.kind == "generate" and j.params["seed"] == 1:
            store.decide(store.sample_ids(SampleFilter(job_id=j.id)), "reject", "tester")

    # verify with thresholds that accept any digit (a random backbone draws noise), then train
    verify = ["verify", root, "--policy", "judge", "--param", "accept_at=0"]
    assert main([*verify, "--param", "reject_below=0", "--param", "context=any"]) == 0
    accepted = store.sample_ids(SampleFilter(source="generated", status="accepted"))
    assert sorted(accepted) == sorted(s.id for s in generated)  # a person's reject outranks
    # the judge reads noise in other groups: --keep-disputed trains on them all the same
    train = ["train", root, "--synthetic", "accepted", "--epochs", "1", "--json", "--keep-disputed"]
    assert main(train) == 0
    run = store.list_runs()[0]
    assert sorted(run.synthetic_ids) == sorted(accepted)


def test_a_changed_token_file_refuses_replay(tiny_project, backbone_dir):
    assert _generate(str(tiny_project.root), backbone_dir) == 0
    sample = tiny_project.list_samples(SampleFilter(source="generated"))[0]
    ref = tiny_project.get_recipe(sample.recipe_id).tokens["artifacts"][0]
    path = tiny_project.artifact_path(tiny_project.get_artifact(ref["id"]))
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ValueError, match="changed"):
        regenerate_sample(tiny_project, sample.id)


def test_bad_input_is_refused_before_any_job(tiny_project, backbone_dir, capsys):
    store, root = tiny_project, str(tiny_project.root)
    assert _generate(root, backbone_dir, "--param", "sources=tag:nothing-tagged") == 2
    assert "select no real samples" in capsys.readouterr().err
    assert _generate(root, backbone_dir, "--param", "contexts=purple") == 2
    assert "unknown context(s) ['purple']; this project has ['red', 'green']" in (
        capsys.readouterr().err
    )
    assert _generate(root, backbone_dir, "--param", 'personalize_params={"oops": 1}') == 2
    assert "decouplegen needs a personalize job first" in capsys.readouterr().err
    assert _generate(root, backbone_dir, "--param", "personalization=5") == 2
    assert "there is no job 5" in capsys.readouterr().err
    assert store.list_jobs() == []
    # a finished personalization of another method
    args = ["personalize", root, "--method", "textual-inversion", "--classes", "0"]
    assert main([*args, "--steps", "1", "--backbone", backbone_dir]) == 0
    (ti,) = store.list_jobs()
    assert _generate(root, backbone_dir, "--param", f"personalization={ti.id}") == 2
    err = capsys.readouterr().err
    assert "personalize (textual-inversion) job, not per-image" in err
    assert "--method per-image" in err
    assert [j.kind for j in store.list_jobs()] == ["personalize"]
    assert store.count_samples(SampleFilter(source="generated")) == 0


def test_sweep_options_negative_prompt_and_lora_weight_are_recorded():
    """negative=source puts the source's own context in the negative prompt; a LoRA weight other
    than 1 is named in the recipe's adapters, so `regenerate` attaches it at that weight."""
    from debias_core.generate.decouplegen import (
        DecoupleGenParams,
        Target,
        adapter_record,
        negative_prompt,
    )

    meta = {"dataset": "colored-digits", "attr_names": ["red", "green", "blue"]}
    target = Target(source=5, y=0, a=2, contexts=(0, 1))
    assert negative_prompt(meta, target, DecoupleGenParams()) == ""
    source = DecoupleGenParams(negative="source")
    assert negative_prompt(meta, target, source) == "on a blue background"
    with pytest.raises(ValueError, match="negative must be one of"):
        DecoupleGenParams(negative="others").check_inputs()
    loras = [{"id": 3, "sha256": "x"}]
    assert adapter_record(loras, 1.0) == {"artifacts": loras}
    assert adapter_record(loras, 0.5) == {"artifacts": loras, "weight": 0.5}
