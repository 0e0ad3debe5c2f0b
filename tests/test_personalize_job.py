"""Personalization jobs: artifacts in the store, resume / cancel, bad input, no leaks, recipes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from debias_core.jobs import LocalExecutor
from debias_core.jobs.foreground import run_personalization
from debias_core.models.cache import cached_backbone, clear_backbone_cache
from debias_core.models.tokens import load_learned_embeds
from debias_core.personalize import runner
from debias_core.personalize.runner import read_loss_log
from debias_core.store import SampleFilter

pytestmark = pytest.mark.usefixtures("fresh_backbone_cache")


def _params(backbone_dir, method, **extra):
    return {"method": method, "backbone": backbone_dir, "steps": 4, "chunk_steps": 2, **extra}


@pytest.mark.slow
def test_each_method_makes_loadable_artifacts(tiny_project, backbone_dir):
    from diffusers import StableDiffusionPipeline

    cases = {
        "textual-inversion": {"classes": [0, 1], "params": {"samples_per_class": 5}},
        "per-image": {"samples": [1, 2], "params": {"phase2_steps": 2}},
        "group-lora": {"groups": [[0, 0], [1, 1]]},
        "group-dreambooth": {
            "groups": [[0, 0]],
            "params": {"samples_per_group": 6, "prior_weight": 1.0, "prior_images": 2},
        },
    }
    for method, extra in cases.items():
        job_id = run_personalization(tiny_project, _params(backbone_dir, method, **extra))
        artifacts = tiny_project.list_artifacts(job_id=job_id)
        assert {a.method for a in artifacts} == {method}
        pipe = StableDiffusionPipeline.from_pretrained(backbone_dir, local_files_only=True)
        for artifact in artifacts:
            path = tiny_project.artifact_path(artifact)
            assert tiny_project.verified_artifact(artifact.id, artifact.sha256) == artifact
            assert artifact.loss_curve and all(np.isfinite(artifact.loss_curve))
            if artifact.kind == "token":
                pipe.load_textual_inversion(str(path), token=artifact.name)
            else:
                pipe.load_lora_weights(str(path.parent), adapter_name=artifact.concept)
        summary = tiny_project.get_job(job_id).result
        assert summary["artifacts"] == [a.id for a in artifacts]
    per_image = tiny_project.list_artifacts(method="per-image")
    assert [(a.kind, a.name, a.scope, a.sample_ids) for a in per_image[:3]] == [
        ("token", "<o-1>", "image", (1,)),
        ("token", "<x-1>", "image", (1,)),
        ("lora", "lora:image-1", "image", (1,)),
    ]
    assert len(per_image[0].loss_curve) == 6  # phase 1 (4 steps) + phase 2 (2 steps)


def test_resume_skips_trained_units_and_cancel_stops_between_chunks(
    tiny_project, backbone_dir, monkeypatch
):
    params = _params(backbone_dir, "textual-inversion", classes=[0, 1], batch=1)
    params["params"] = {"samples_per_class": 4}
    executor = LocalExecutor(tiny_project)
    job_id = executor.submit("personalize", params)
    appended = []
    original = runner.LossLog.append

    def cancel_in_second_unit(self, record):
        original(self, record)
        appended.append(record)
        if record["unit"] == "class-1":
            tiny_project.request_cancel(job_id)

    monkeypatch.setattr(runner.LossLog, "append", cancel_in_second_unit)
    executor.wait(60)
    job = tiny_project.get_job(job_id)
    assert job.status == "cancelled" and job.units_done == 1
    assert [a.concept for a in tiny_project.list_artifacts(job_id=job_id)] == ["class-0"]
    assert [r["step"] for r in appended] == [2, 4, 2]  # stopped after class-1's first chunk

    monkeypatch.setattr(runner.LossLog, "append", original)
    first = tiny_project.list_artifacts(job_id=job_id)[0]
    executor.resume(job_id)
    executor.wait(60)
    job = tiny_project.get_job(job_id)
    assert job.status == "done" and job.units_done == job.units_total == 2
    artifacts = tiny_project.list_artifacts(job_id=job_id)
    assert [a.concept for a in artifacts] == ["class-0", "class-1"]
    assert artifacts[0] == first  # the trained unit was not redone
    log = read_loss_log(tiny_project, job_id)
    assert [r["unit"] for r in log][-2:] == ["class-1", "class-1"]


BAD_INPUT = [
    ({"samples": [1, 99999]}, "unknown sample ids: \\[99999\\]"),
    ({"classes": [7]}, "class 7 is not in this project"),
    ({"classes": [0], "params": {"samples_per_class": 500}}, "fewer than the subset of 500"),
    ({"classes": [0], "params": {"token_format": "{y}"}}, "already in the vocabulary"),
    ({"steps": 0}, "steps must be >= 1"),
    ({"params": {"nope": 1}}, "unknown parameter"),
    ({"method": "dreambooth++"}, "unknown personalization method"),
    ({"groups": [[0, 0]]}, "textual-inversion does not take groups as targets; it takes: classes"),
]


@pytest.mark.parametrize(("change", "message"), BAD_INPUT)
def test_bad_input_is_one_clear_error_before_a_job_exists(
    tiny_project, backbone_dir, change, message
):
    params = {**_params(backbone_dir, "textual-inversion"), **change}
    with pytest.raises(ValueError, match=message):
        LocalExecutor(tiny_project).submit("personalize", params)
    assert tiny_project.list_jobs() == []


def test_group_checks(tiny_project, backbone_dir):
    executor = LocalExecutor(tiny_project)
    conflicting = tiny_project.count_samples(SampleFilter(y=0, a=1, source="real", split="train"))
    too_many = {"samples_per_group": conflicting + 1}
    with pytest.raises(ValueError, match=r"group \(0, 1\) has \d+ train samples, fewer"):
        executor.submit(
            "personalize",
            _params(backbone_dir, "group-lora", groups=[[0, 1]], params=too_many),
        )
    unknown = {"features": "dinov2"}
    with pytest.raises(ValueError, match="'dinov2' is not available.*pass features=run:ID"):
        executor.submit(
            "personalize",
            _params(backbone_dir, "cluster-lora", groups=[[0, 0]], params=unknown),
        )


@pytest.mark.slow
def test_nothing_leaks_from_a_personalization_job_into_the_next_job(tiny_project, backbone_dir):
    """The cached backbone a generation job gets after a personalization job is pristine."""
    from debias_core.jobs.foreground import build_balanced_set
    from debias_core.models.backbone import load_backbone

    shared = cached_backbone(backbone_dir)
    fingerprint, vocab = shared.fingerprint(), len(shared.tokenizer)
    run_personalization(
        tiny_project, _params(backbone_dir, "per-image", samples=[1], params={"phase2_steps": 2})
    )
    assert cached_backbone(backbone_dir) is shared  # still cached, and untouched
    assert shared.fingerprint() == fingerprint and len(shared.tokenizer) == vocab
    ids = build_balanced_set(tiny_project, backbone_dir, per_group=2, steps=2, groups=[(0, 1)])
    clear_backbone_cache()
    fresh_ids = build_balanced_set(
        tiny_project, backbone_dir, per_group=2, steps=2, groups=[(0, 1)]
    )
    images = [np.asarray(tiny_project.sample_image(i)) for i in ids]
    fresh = [np.asarray(tiny_project.sample_image(i)) for i in fresh_ids]
    assert all(np.array_equal(a, b) for a, b in zip(images, fresh, strict=True))
    loaded = load_backbone(backbone_dir)
    assert len(loaded.tokenizer) == vocab


def test_the_cache_replaces_a_model_changed_outside_a_scope(backbone_dir):
    first = cached_backbone(backbone_dir)
    first.attach_lora("leaked")  # a bug elsewhere: mutated without a scope
    with pytest.warns(RuntimeWarning, match="changed outside a personalization scope"):
        second = cached_backbone(backbone_dir)
    assert second is not first and second.adapters() == []


@pytest.mark.slow
def test_recipes_name_their_artifacts_and_replay_refuses_missing_or_changed(
    tiny_project, backbone_dir
):
    from debias_core.generate.recipes import regenerate_sample
    from debias_core.jobs.foreground import build_balanced_set  # noqa: F401

    job = run_personalization(
        tiny_project, _params(backbone_dir, "group-dreambooth", groups=[[0, 1]])
    )
    token, lora = tiny_project.list_artifacts(job_id=job)
    executor = LocalExecutor(tiny_project)
    gen_params = {
        "backbone": backbone_dir,
        "groups": [[0, 1]],
        "per_group": 2,
        "steps": 2,
        "params": {"artifacts": [token.id, lora.id]},
    }
    gen_job = executor.submit("generate", gen_params)
    executor.wait(60)
    assert tiny_project.get_job(gen_job).status == "done"
    sample = tiny_project.list_samples(SampleFilter(job_id=gen_job))[0]
    recipe = tiny_project.get_recipe(sample.recipe_id)
    assert recipe.tokens["artifacts"] == [token.ref()]
    assert recipe.adapters["artifacts"] == [lora.ref()]
    replayed = np.asarray(regenerate_sample(tiny_project, sample.id))
    np.testing.assert_array_equal(replayed, np.asarray(tiny_project.sample_image(sample.id)))
    plain = build_balanced_set(tiny_project, backbone_dir, per_group=2, steps=2, groups=[(0, 1)])
    assert not np.array_equal(np.asarray(tiny_project.sample_image(plain[0])), replayed)

    path = tiny_project.artifact_path(lora)
    original = path.read_bytes()
    path.write_bytes(original[:-8] + b"\x00" * 8)
    with pytest.raises(ValueError, match=f"artifact {lora.id} .* changed"):
        regenerate_sample(tiny_project, sample.id)
    path.unlink()
    with pytest.raises(ValueError, match=f"artifact {lora.id} .* is missing"):
        regenerate_sample(tiny_project, sample.id)
    path.write_bytes(original)
    assert load_learned_embeds(tiny_project.artifact_path(token))[token.name].shape == (32,)
    np.testing.assert_array_equal(np.asarray(regenerate_sample(tiny_project, sample.id)), replayed)


def test_cluster_lora_on_a_trained_classifiers_features(tiny_project, backbone_dir):
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    run = run_training(tiny_project, TrainConfig(method="erm", epochs=1, batch_size=64))
    params = {"features": f"run:{run.run_id}", "clusters": 2, "samples_per_group": 3}
    job = run_personalization(
        tiny_project, _params(backbone_dir, "cluster-lora", groups=[[0, 0]], params=params)
    )
    artifacts = tiny_project.list_artifacts(job_id=job)
    assert [(a.kind, a.scope, a.cluster) for a in artifacts] == [
        ("token", "cluster", 0),
        ("lora", "cluster", 0),
        ("token", "cluster", 1),
        ("lora", "cluster", 1),
    ]
    assert [a.name for a in artifacts if a.kind == "token"] == ["<v-0-0-0>", "<v-0-0-1>"]
    members = [set(a.sample_ids) for a in artifacts if a.kind == "lora"]
    assert not members[0] & members[1] and all(len(m) <= 3 for m in members)
    torch.manual_seed(0)  # nothing above may depend on the global RNG


def test_loss_is_logged_often_enough_for_a_curve():
    from debias_core.personalize.engine import report_every

    assert report_every(0, 10) == 1  # a 10-step job: every step, not one dot
    assert (report_every(0, 200), report_every(0, 5000)) == (10, 25)
    assert report_every(2, 10) == 2  # an explicit chunk stands
