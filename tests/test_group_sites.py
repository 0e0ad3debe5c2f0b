"""Generated images land in the group they show, also when the spurious attribute sits on the
object (Colored Digits `spurious=stroke`): where each side says the attribute lies, what each
generator does on the stroke variant (handled in its prompt, or refused before queuing), the
group a judge reads recorded by `verify`, and `stats` / training setting disagreeing samples aside.
"""

from __future__ import annotations

import pytest
from conftest import TINY_DIGITS
from generated_samples import add_generated, train_ids

from debias_core.bias.stats import format_stats_table, group_stats
from debias_core.cli import main
from debias_core.data.sites import spurious_site
from debias_core.store import SampleFilter

STROKE = dict(TINY_DIGITS, spurious="stroke")


@pytest.fixture
def stroke_project(tmp_path):
    from debias_core.data.ingest import create_project

    return create_project(tmp_path / "stroke", "colored-digits", options=dict(STROKE))


def _run(store, method: str, epochs: int = 1) -> int:
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    return run_training(store, TrainConfig(method=method, epochs=epochs, batch_size=16)).run_id


def _generate(store, backbone, method, *extra) -> int:
    args = ["generate", str(store.root), "--method", method, "--backbone", backbone]
    return main([*args, "--steps", "2", "--batch-size", "4", *extra])


def _params(*pairs: str) -> list[str]:
    return [a for p in pairs for a in ("--param", p)]


def _colour_words(store, sample) -> str:
    return f"{store.attr_names[sample.a]} stroke"


# -- where the attribute lies --------------------------------------------------------------------
def test_each_dataset_says_where_its_spurious_attribute_lies():
    digits = {"dataset": "colored-digits"}
    assert spurious_site(digits | {"dataset_params": {"spurious": "stroke"}}) == "object"
    assert spurious_site(digits | {"dataset_params": {"spurious": "background"}}) == "background"
    assert spurious_site({"dataset": "waterbirds", "dataset_params": {}}) == "background"
    assert spurious_site({"dataset": "metashift", "dataset_params": {}}) == "background"
    celeba = {"dataset": "celeba", "dataset_params": {"bias": "Eyeglasses"}}
    assert spurious_site(celeba) == "object"  # from the editable table
    celeba["dataset_params"]["spurious_site"] = "background"  # the project's own override
    assert spurious_site(celeba) == "background"
    assert spurious_site({"dataset": "folder-csv", "dataset_params": {}}) == "unknown"


def test_txt2img_on_the_stroke_variant_names_each_groups_stroke_colour(
    stroke_project, backbone_dir
):
    store = stroke_project
    assert _generate(store, backbone_dir, "txt2img", "--per-group", "1") == 0
    generated = store.list_samples(SampleFilter(source="generated"))
    assert len(generated) == 4
    for sample in generated:
        assert _colour_words(store, sample) in store.get_recipe(sample.recipe_id).prompt


@pytest.mark.slow
def test_dbb_on_the_stroke_variant_refuses_or_names_the_sources_stroke_colour(
    stroke_project, backbone_dir, capsys
):
    """DBB redraws the stroke (the mask) and records the source's context: the prompt must name
    it, and the class tokens learn with the colour named, else they draw their class's usual
    colour (94% of the images in another group in issue 22)."""
    store = stroke_project
    run = _run(store, "erm")
    tiny = ["--run", str(run), "--per-group", "1", *_params("k=2", "ti_steps=2", "ti_samples=4")]
    assert _generate(store, backbone_dir, "dbb", *tiny) == 2  # refused by default ...
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: dbb keeps or changes the context outside")
    assert "--param on_object=prompt" in err[0] and store.list_jobs() == []
    # ... handled when asked: the prompt names the source's colour
    assert _generate(store, backbone_dir, "dbb", *tiny, *_params("on_object=prompt")) == 0
    generated = store.list_samples(SampleFilter(source="generated"))
    assert len(generated) == 4  # 2 classes x 2 sources x 1 other class
    for sample in generated:
        parent = store.get_sample(sample.parent_id)
        assert sample.a == parent.a and sample.y != parent.y
        prompt = store.get_recipe(sample.recipe_id).prompt
        expected = f"a photo of <c-{sample.y}> {sample.y}, {_colour_words(store, sample)}, on a"
        assert prompt == expected + " black background"
    (ti,) = [j for j in store.list_jobs() if j.kind == "personalize"]
    assert ti.params["params"]["templates"] == ["a photo of a {token} {cls}, {ctx}"]


def test_decouplegen_on_the_stroke_variant_is_refused_before_queuing(
    stroke_project, backbone_dir, capsys
):
    """Its object token learns the stroke colour with the digit, so the new context cannot be
    drawn: one `error:` line naming why, and no job (nor its personalization) is made."""
    params = _params("sources=majority:1", "personalize_steps=2")
    code = _generate(stroke_project, backbone_dir, "decouplegen", "--per-group", "1", *params)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("error: decouplegen keeps or changes the context outside the object")
    assert "the stroke colour lies on the object itself" in err[0]
    assert stroke_project.list_jobs() == []


def test_clustered_dreambooth_on_the_stroke_variant_borrows_the_pool_of_the_groups_colour(
    stroke_project,
):
    """A LoRA learned on a class's majority draws the majority's stroke colour (issue 22: the
    rare groups 75% right), so where the attribute lies on the object a small group borrows
    from the largest group with its colour, as the paper's A.6 does for UTKFace's age."""
    from debias_core.generate.cluster_sources import emphasised, sources
    from debias_core.generate.clustered_dreambooth import ClusteredDreamBoothParams
    from debias_core.generate.prompts import group_text

    groups = [(0, 0), (0, 1), (1, 0), (1, 1)]  # bias 0.9 of 40: 36 aligned, 4 conflicting
    params = ClusteredDreamBoothParams(min_group=10)
    found = sources(stroke_project, groups, params)
    assert {g: (s.group, s.borrowed, s.by) for g, s in found.items()} == {
        (0, 0): ((0, 0), False, ""),
        (0, 1): ((1, 1), True, "context"),
        (1, 0): ((0, 0), True, "context"),
        (1, 1): ((1, 1), False, ""),
    }
    by_class = sources(
        stroke_project, groups, ClusteredDreamBoothParams(min_group=10, borrow_from="class")
    )
    assert by_class[(0, 1)].group == (0, 0) and by_class[(1, 0)].group == (1, 1)
    meta = stroke_project.meta()
    text = group_text(meta, 0, 1)
    words, negative = emphasised(meta, {"cls": text.class_text}, text, 0, "context")
    assert words["cls"] == f"(({text.class_text}))"
    assert negative == f"(({stroke_project.class_names[1]}))"


@pytest.mark.slow
def test_clustered_dreambooth_on_the_stroke_variant_refuses_unless_allowed(
    stroke_project, backbone_dir, capsys
):
    """Measured below 90% in the recorded group there, it is refused with one line naming why
    and queues nothing (nor its LoRAs); allowed, each image's prompt names its own colour and
    draws from a pool of that colour (its own, or its colour's largest group's)."""
    store = stroke_project
    params = _params("min_group=10", "clusters=2", "train_steps=2", "train_batch=4")
    tiny = ["--per-group", "1", *params]
    assert _generate(store, backbone_dir, "clustered-dreambooth", *tiny) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the stroke colour lies on the object itself" in err[0]
    assert "--param on_object=allow" in err[0] and store.list_jobs() == []
    allow = _params("on_object=allow")
    assert _generate(store, backbone_dir, "clustered-dreambooth", *tiny, *allow) == 0
    for sample in store.list_samples(SampleFilter(source="generated")):
        recipe = store.get_recipe(sample.recipe_id)
        assert _colour_words(store, sample) in recipe.prompt
        assert recipe.params["source_group"][1] == sample.a  # its own pool, or its colour's


@pytest.mark.slow
def test_diffinject_on_the_stroke_variant_refuses_unless_allowed_then_sets_aside(
    stroke_project, backbone_dir, capsys
):
    """Measured at 25% in the recorded group on the stroke variant, DiffInject is refused there
    with one line naming why; allowed, it starts each injection from an original of the content's
    class, and the judge's reading sets aside every image it reads in another group, so stats
    and training count only the ones it agrees with."""
    store = stroke_project
    run = _run(store, "gce")
    tiny = ["--run", str(run), "--per-group", "2", "--steps", "4", *_params("k=2")]
    assert _generate(store, backbone_dir, "diffinject", *tiny) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the stroke colour lies on the object itself" in err[0]
    assert "--param on_object=allow" in err[0]
    assert [j for j in store.list_jobs() if j.kind == "generate"] == []
    assert _generate(store, backbone_dir, "diffinject", *tiny, *_params("on_object=allow")) == 0
    ids = store.sample_ids(SampleFilter(source="generated"))
    for sample in store.list_samples(SampleFilter(ids=ids)):
        content = store.get_sample(sample.meta["content_id"])
        assert store.get_sample(sample.parent_id).y == content.y == sample.y
        assert sample.a == content.a
    assert main(["verify", str(store.root), "--param", "context=any"]) == 0
    reads = store.read_groups(ids)
    assert sorted(reads) == ids
    aside = [i for i in ids if not reads[i]["judge"]["agrees"]]
    assert store.sample_ids(SampleFilter(source="generated", set_aside=True)) == aside
    assert sum(s.generated_set_aside for s in group_stats(store)) == len(aside)
    counted = sum(
        s.generated_accepted + s.generated_pending + s.generated_rejected
        for s in group_stats(store)
    )
    assert counted == len(ids) - len(aside)


def test_diffinject_draws_originals_of_the_contents_class_where_the_attribute_is_on_it():
    """The pool of originals: any class's, or (on the object) the content's class's only."""
    from debias_core.generate.diffinject import DiffInjectParams, Mining, originals_for

    mined = Mining((9,), (1,), pool_ids=(1, 2, 3, 4), class_pools={0: (1, 2), 1: (3, 4)})
    params = DiffInjectParams(run=1)
    assert originals_for(None, params, mined, None) == (1, 2, 3, 4)
    assert originals_for(None, params, mined, 1) == (3, 4)
    with pytest.raises(ValueError, match="no aligned original of class 2"):
        originals_for(None, params, mined, 2)


# -- what a judge reads, and who sets it aside ------------------------------------------------
@pytest.fixture
def judged(tiny_project):
    """Two generated samples with real pixels: one recorded in the group it shows, one in the
    other colour; then the judge verifies both."""
    store = tiny_project
    one = train_ids(store, 1, 1)
    right, wrong = add_generated(store, [(one[0], None, 1, 1), (one[1], None, 1, 0)])
    assert main(["verify", str(store.root)]) == 0
    return store, right, wrong


def test_verify_records_the_group_the_judge_reads(judged):
    store, right, wrong = judged
    reads = store.read_groups([right, wrong])
    assert reads[right]["judge"] == {"y": 1, "a": 1, "agrees": True}
    assert reads[wrong]["judge"] == {"y": 1, "a": 1, "agrees": False}  # shows green, not red
    assert store.sample_ids(SampleFilter(source="generated", disputed=True)) == [wrong]
    assert store.sample_ids(SampleFilter(source="generated", disputed=False)) == [right]


def test_review_shows_the_recorded_and_the_read_group(judged):
    from debias_core.analysis.review import evidence_text, sample_evidence

    store, _, wrong = judged
    text = evidence_text(sample_evidence(store, store.get_sample(wrong)))
    assert "Recorded group: **digit 1 / red**" in text
    assert "Judge `judge` reads: **digit 1 / green** (**disagrees**" in text


def test_stats_count_a_disputed_sample_apart_and_say_how_many(judged):
    store, _, _ = judged
    rows = {(s.y, s.a): s for s in group_stats(store)}
    assert rows[(1, 1)].generated_pending == 0 and rows[(1, 1)].generated_accepted == 1
    assert rows[(1, 0)].generated_set_aside == 1
    assert sum(s.generated_rejected + s.generated_pending for s in rows.values()) == 0
    assert "1 generated samples set aside" in format_stats_table(list(rows.values()))


def test_training_sets_disputed_samples_aside_unless_asked(judged):
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    store, right, wrong = judged
    config = TrainConfig(epochs=1, batch_size=16, synthetic="all")
    result = run_training(store, config)
    assert result.synthetic_ids == [right] and result.set_aside == 1
    assert store.get_run(result.run_id).metrics["set_aside"] == 1
    kept = run_training(
        store, TrainConfig(epochs=1, batch_size=16, synthetic="all", keep_disputed=True)
    )
    assert sorted(kept.synthetic_ids) == [right, wrong] and kept.set_aside == 0


def test_the_generate_tab_shows_the_same_refusal_and_queues_nothing(stroke_project):
    import gradio as gr

    from ui import generate as gen
    from ui.common import friendly
    from ui.state import make_context

    ctx = make_context(stroke_project.root, reviewer="tester", create=False)
    params = {"method": "decouplegen", "per_group": 1, "params": {"sources": "majority:1"}}
    with pytest.raises(gr.Error, match="decouplegen keeps or changes the context outside"):
        friendly(gen.submit)(ctx, params)
    assert stroke_project.list_jobs() == []


# -- a person's accept outranks the judge; Review's disputed filter -----------------------------
def test_a_persons_accept_counts_a_disputed_sample_in_its_recorded_group(judged):
    """The judge's reading sets a sample aside until a person accepts it: then stats, training
    (group-balanced ones too: it joins its recorded group) and the compare bench count it; an
    undo sets it aside again."""
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    store, right, wrong = judged
    store.decide([wrong], "accept", "alice", reason="the colour is right after all")
    assert store.sample_ids(SampleFilter(source="generated", disputed=True)) == [wrong]
    assert store.sample_ids(SampleFilter(source="generated", set_aside=True)) == []
    rows = {(s.y, s.a): s for s in group_stats(store)}
    assert rows[(1, 0)].generated_set_aside == 0 and rows[(1, 0)].generated_accepted == 1
    config = TrainConfig(method="resample", epochs=1, batch_size=16, synthetic="accepted")
    result = run_training(store, config)
    assert sorted(result.synthetic_ids) == [right, wrong] and result.set_aside == 0
    store.decide([wrong], "undo", "alice")
    rows = {(s.y, s.a): s for s in group_stats(store)}
    assert rows[(1, 0)].generated_set_aside == 1


def test_review_lists_disputed_samples_in_the_app_and_the_cli(judged, capsys):
    from debias_core.analysis.review import (
        ReviewFilter,
        load_review_view,
        review_ids,
        save_review_view,
    )
    from ui.common import ANY
    from ui.review_view import filter_widgets, queue_filter

    store, right, wrong = judged
    assert review_ids(store, ReviewFilter(status=None, reading="disputed")) == [wrong]
    assert review_ids(store, ReviewFilter(status=None, reading="agrees")) == [right]
    where = queue_filter(ANY, ANY, ANY, ANY, ANY, ANY, "", "", "", "id", "disputed")
    assert review_ids(store, where) == [wrong]
    save_review_view(store, "disputed", where)
    assert filter_widgets(load_review_view(store, "disputed"))[-1] == "disputed"
    with pytest.raises(ValueError, match="judge reading must be one of"):
        queue_filter(ANY, ANY, ANY, ANY, ANY, ANY, "", "", "", "id", "maybe")
    assert main(["review", str(store.root), "--reading", "disputed"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"#{wrong} ") and "judge reads digit 1 / green (disagrees)" in out[0]
    assert out[-1] == "1 samples"
