"""txt2img / FFR generation: plans, persisted jobs with resume, reproducible recipes."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from debias_core.generate import GENERATORS, GenerateConfig, runner
from debias_core.generate.machine import CROSS_MACHINE_BOUND, KIND_FIELDS, machine_kind
from debias_core.generate.prompts import group_text
from debias_core.generate.recipes import Replay, regenerate, regenerate_sample, replay_sample
from debias_core.jobs import LocalExecutor, foreground
from debias_core.models.dummy import dummy_backbone
from debias_core.store import SampleFilter

META = {
    "dataset": "colored-digits",
    "class_names": ["digit 0", "digit 1"],
    "attr_names": ["red", "green"],
    "dataset_params": {"spurious": "background"},
}
STORE = SimpleNamespace(meta=lambda: META)  # plans of prompt-based methods read only metadata


@pytest.fixture
def dummy(monkeypatch):
    backbone = dummy_backbone(seed=0)
    monkeypatch.setattr(runner, "cached_backbone", lambda spec, device="cpu", dtype="": backbone)
    return backbone


def test_prompts_name_class_and_context_and_contrastive_negates_other_contexts():
    text = group_text(META, 1, 0)
    assert text.context_text == "white stroke, on a red background"
    plan = GENERATORS.get("contrastive").plan(
        STORE, GenerateConfig(method="contrastive", per_group=3, batch_size=2), [(1, 0)]
    )
    assert [len(u.seeds) for u in plan] == [2, 1]
    assert all("digit 1" in p and "red background" in p for u in plan for p in u.prompts)
    assert plan[0].negatives[0] == "on a green background"  # only the part that varies
    assert all(p.startswith("a photo of") for u in plan for p in u.prompts)  # its vocabulary
    vanilla = GENERATORS.get("txt2img").plan(STORE, GenerateConfig(per_group=2), [(0, 1)])
    assert vanilla[0].prompts == ("a photo of digit 0, white stroke, on a green background",) * 2


def test_ffr_prompts_draw_a_kind_of_the_class_in_a_place_of_the_context_without_negatives():
    birds = {"dataset": "waterbirds", "class_names": ["landbird", "waterbird"],
             "attr_names": ["land", "water"]}  # fmt: skip
    store = SimpleNamespace(meta=lambda: birds)
    config = GenerateConfig(method="ffr", per_group=40, batch_size=40)
    (unit,) = GENERATORS.get("ffr").plan(store, config, [(1, 0)])  # waterbirds on land
    text = group_text(birds, 1, 0)
    pairs = [p.removeprefix("a photo of ").split(" in ") for p in unit.prompts]
    assert {kind for kind, _ in pairs} == set(text.kinds)  # 40 draws cover the 7 kinds
    assert {place for _, place in pairs} == set(text.places) and "a lake" not in text.places
    assert set(unit.negatives) == {""}
    again = GENERATORS.get("ffr").plan(store, config, [(1, 0)])
    assert again[0].prompts == unit.prompts  # seeded: a resumed job plans the same prompts
    digits = GENERATORS.get("ffr").plan(STORE, GenerateConfig(method="ffr", per_group=2), [(0, 1)])
    # the embedded model knows only its captions: FFR's prompt keeps the group's own words
    assert digits[0].prompts == ("a photo of digit 0, white stroke, on a green background",) * 2
    assert digits[0].negatives == ("", "")


def test_seeds_do_not_depend_on_batching():
    big = GENERATORS.get("txt2img").plan(STORE, GenerateConfig(per_group=4, batch_size=4), [(0, 0)])
    small = GENERATORS.get("txt2img").plan(
        STORE, GenerateConfig(per_group=4, batch_size=1), [(0, 0)]
    )
    assert big[0].seeds == tuple(s for u in small for u in [u] for s in u.seeds)


def test_balanced_set_fills_every_group_with_recipes(tiny_project, dummy):
    ids = foreground.build_balanced_set(tiny_project, "dummy", per_group=3, steps=2, batch_size=2)
    assert len(ids) == 12
    counts = {(r["y"], r["a"]): r["generated_pending"] for r in tiny_project.group_counts()}
    assert set(counts.values()) == {3}
    sample = tiny_project.get_sample(ids[0])
    recipe = tiny_project.get_recipe(sample.recipe_id)
    assert recipe.backbone_hash == dummy.content_hash and recipe.steps == 2
    assert recipe.prompt.startswith("a photo of digit")


def test_regenerate_reproduces_the_image_bit_exact(tiny_project, dummy):
    ids = foreground.build_balanced_set(
        tiny_project, "dummy", per_group=2, steps=2, groups=[(0, 1)]
    )
    for sample_id in ids:
        stored = np.asarray(tiny_project.sample_image(sample_id))
        assert np.array_equal(np.asarray(regenerate_sample(tiny_project, sample_id)), stored)


def test_recipes_record_the_machine_kind_and_a_replay_says_whether_it_is_bit_exact(
    tiny_project, dummy
):
    (sid,) = foreground.build_balanced_set(
        tiny_project, "dummy", per_group=1, steps=2, groups=[(0, 1)]
    )
    recipe = tiny_project.get_recipe(tiny_project.get_sample(sid).recipe_id)
    assert recipe.machine == machine_kind("cpu")
    assert set(recipe.machine) == set(KIND_FIELDS) and recipe.machine["isa"]
    replay = replay_sample(tiny_project, sid)
    assert replay.same_machine and replay.max_difference == 0
    assert replay.describe().startswith("bit-exact: identical to the stored image")

    other = dict(recipe.machine, processor="Intel Xeon", isa="AVX512")
    for recorded, shown in [(other, "isa: AVX512 -> "), ({}, "isa: not recorded -> ")]:
        with tiny_project.write() as db:  # as if drawn elsewhere / by an older version
            db["recipes"].update(recipe.id, {"machine": json.dumps(recorded)})
        replay = replay_sample(tiny_project, sid)
        assert not replay.same_machine and replay.max_difference == 0
        line = replay.describe()
        assert "another machine kind" in line and shown in line and "identical" in line
        assert f"a difference <= {CROSS_MACHINE_BOUND} is expected" in line
    beyond = Replay(replay.image, CROSS_MACHINE_BOUND + 1, other, machine_kind("cpu"))
    assert f"max pixel difference {CROSS_MACHINE_BOUND + 1}" in beyond.describe()
    assert "beyond the expected" in beyond.describe()
    same = Replay(replay.image, 1, machine_kind("cpu"), machine_kind("cpu"))
    assert same.describe().startswith("NOT bit-exact although the machine kind matches")


def test_regenerate_refuses_a_different_backbone(tiny_project, dummy):
    (sid,) = foreground.build_balanced_set(
        tiny_project, "dummy", per_group=1, steps=1, groups=[(0, 0)]
    )
    recipe = tiny_project.get_recipe(tiny_project.get_sample(sid).recipe_id)
    with pytest.raises(ValueError, match="cannot be reproduced exactly"):
        regenerate(recipe, dummy_backbone(seed=1))


def test_crash_mid_job_then_resume_gives_no_duplicates(tiny_project, dummy, monkeypatch):
    generator = GENERATORS.get("txt2img")
    real_render, calls = generator.render, []

    def flaky(backbone, unit, config, store):
        calls.append(unit.key)
        if len(calls) == 3:
            raise RuntimeError("simulated crash")
        return real_render(backbone, unit, config, store)

    monkeypatch.setattr(generator, "render", flaky)
    executor = LocalExecutor(tiny_project)
    job_id = executor.submit(
        "generate",
        {
            "per_group": 2,
            "batch_size": 1,
            "steps": 1,
            "groups": [[0, 0], [1, 1]],
            "backbone": "dummy",
        },
    )
    executor.wait(60)
    assert tiny_project.get_job(job_id).status == "failed"
    assert tiny_project.count_samples(SampleFilter(job_id=job_id)) == 2
    executor.resume(job_id)
    executor.wait(60)
    job = tiny_project.get_job(job_id)
    assert (job.status, job.units_done, job.units_total) == ("done", 4, 4)
    samples = tiny_project.list_samples(SampleFilter(job_id=job_id))
    assert len(samples) == 4 and len({s.recipe_id for s in samples}) == 4


def test_unknown_group_and_method_are_clear_errors(tiny_project, dummy):
    with pytest.raises(ValueError, match="not in this project"):
        foreground.build_balanced_set(tiny_project, "dummy", per_group=1, groups=[(5, 0)])
    with pytest.raises(ValueError, match="unknown generation method 'nope'; valid: ") as info:
        foreground.build_balanced_set(tiny_project, "dummy", method="nope")
    valid = str(info.value).split("valid: ")[1].split(", ")
    assert {"clustered-dreambooth", "dbb", "decouplegen", "diffinject", "ffr", "txt2img"} <= set(
        valid
    )
