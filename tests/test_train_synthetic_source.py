"""Training on one generator's (or one generation job's) images: the selection, its checks
before anything is queued, and the choices the Train tab offers."""

import pytest

from debias_core.generate import runner
from debias_core.jobs import submit_job
from debias_core.jobs.foreground import build_balanced_set
from debias_core.models.dummy import dummy_backbone
from debias_core.store import SampleFilter
from debias_core.train import TrainConfig
from debias_core.train.run import check_synthetic, run_training
from debias_core.train.variants import generated_sources, source_from_key


@pytest.fixture
def two_jobs(tiny_project, monkeypatch):
    """txt2img images of group (0, 1) and ffr images of group (1, 0), one job each."""
    backbone = dummy_backbone(seed=0)
    monkeypatch.setattr(runner, "cached_backbone", lambda spec, device="cpu", dtype="": backbone)
    common = {"per_group": 2, "steps": 1, "batch_size": 2}
    txt2img = build_balanced_set(tiny_project, "dummy", groups=[(0, 1)], **common)
    ffr = build_balanced_set(tiny_project, "dummy", method="ffr", groups=[(1, 0)], **common)
    return txt2img, ffr


def job_of(store, sample_ids):
    (job,) = {store.get_sample(i).job_id for i in sample_ids}
    return job


def test_a_run_learns_from_only_the_chosen_job_or_method(tiny_project, two_jobs):
    txt2img, ffr = two_jobs
    by_job = TrainConfig(epochs=1, synthetic="all", synthetic_job=job_of(tiny_project, ffr))
    assert sorted(run_training(tiny_project, by_job).synthetic_ids) == sorted(ffr)
    by_method = TrainConfig(epochs=1, synthetic="all", synthetic_method="txt2img")
    assert sorted(run_training(tiny_project, by_method).synthetic_ids) == sorted(txt2img)
    everything = TrainConfig(epochs=1, synthetic="all")
    assert sorted(run_training(tiny_project, everything).synthetic_ids) == sorted(txt2img + ffr)


def test_bad_selections_are_refused_before_queueing(tiny_project, two_jobs):
    txt2img, _ = two_jobs
    with pytest.raises(ValueError, match="choose synthetic all or accepted"):
        TrainConfig(synthetic_method="txt2img")
    with pytest.raises(ValueError, match="must be a job id"):
        TrainConfig(synthetic="all", synthetic_job="3")
    job = job_of(tiny_project, txt2img)
    cases = {
        "no job 999 in this project": {"synthetic": "all", "synthetic_job": 999},
        f"no accepted generated samples from job {job}": {
            "synthetic": "accepted",
            "synthetic_job": job,
        },
        "no all generated samples of dbb": {"synthetic": "all", "synthetic_method": "dbb"},
    }
    jobs_before = len(tiny_project.list_jobs())
    for message, fields in cases.items():
        with pytest.raises(ValueError, match=message):
            check_synthetic(tiny_project, TrainConfig(epochs=1, **fields))
        with pytest.raises(ValueError, match=message):
            submit_job(tiny_project, "train", {"epochs": 1, **fields})
    assert len(tiny_project.list_jobs()) == jobs_before  # nothing was queued


def test_a_job_of_another_kind_is_not_a_source(tiny_project, two_jobs):
    train_job = tiny_project.create_job("train", {"epochs": 1})
    with pytest.raises(ValueError, match=f"job {train_job} is a train job, not a generation"):
        check_synthetic(tiny_project, TrainConfig(synthetic="all", synthetic_job=train_job))


def test_the_tab_offers_every_method_and_every_generation_job(tiny_project, two_jobs):
    txt2img, ffr = two_jobs
    first, second = job_of(tiny_project, txt2img), job_of(tiny_project, ffr)
    sources = generated_sources(tiny_project)
    assert [s.key for s in sources] == [
        "any",
        "method:ffr",
        "method:txt2img",
        f"job:{second}",
        f"job:{first}",
    ]
    assert sources[3].label == f"job {second}: ffr, 2 images"
    for source in sources:
        assert source_from_key(source.key).config_fields() == source.config_fields()
    assert tiny_project.count_samples(SampleFilter(job_id=second)) == 2
    for bad in ("", "job:", "job:x", "method:", "anything"):
        with pytest.raises(ValueError, match="any, method:NAME or job:ID"):
            source_from_key(bad)
