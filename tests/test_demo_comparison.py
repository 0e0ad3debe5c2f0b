"""The demo comparison (issue 16 item 7): one `compare` job generates, trains the baseline and the
pipeline per seed as their own jobs, and reads back both worst groups and the lift with
intervals; the lift of one run each is a bootstrap over test images, checked here by hand."""

from __future__ import annotations

import pytest

from debias_core.evaluate.uncertainty import wilson_interval, worst_group_lift

ALL_RIGHT = [(25, 25)] * 4


def test_lift_of_one_run_each_is_the_worst_group_difference_with_a_boundary_aware_interval():
    baseline = [(25, 25), (25, 25), (25, 25), (0, 25)]  # one group never right
    lift = worst_group_lift(ALL_RIGHT, baseline)
    # Neither run's counts can move under resampling (all right / none right), so the bootstrap
    # alone would give [1, 1]; the baseline's worst group may truly sit up to its Wilson end.
    assert lift.estimate.value == 1.0
    assert lift.estimate.low == pytest.approx(1.0 - wilson_interval(0, 25).high)
    assert lift.estimate.low == pytest.approx(1.0 - 0.1332, abs=1e-3)
    assert lift.estimate.high == 1.0 and lift.significant


def test_lift_between_equal_runs_is_not_significant():
    run = [(20, 25), (22, 25), (18, 25), (24, 25)]
    lift = worst_group_lift(run, run)
    assert lift.estimate.value == 0.0
    assert lift.estimate.low < 0 < lift.estimate.high and not lift.significant


def test_lift_refuses_runs_on_different_groups():
    with pytest.raises(ValueError, match="different test groups"):
        worst_group_lift([(1, 5)], [(1, 6)])


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """One tiny project for the module: the refusals write nothing, and the second comparison
    reuses the first one's seed-0 runs."""
    from conftest import TINY_DIGITS

    from debias_core.data.ingest import create_project

    root = tmp_path_factory.mktemp("compare") / "proj"
    return create_project(root, "colored-digits", options=dict(TINY_DIGITS))


@pytest.fixture
def dummy_generation(monkeypatch):
    from debias_core.generate import runner
    from debias_core.models.dummy import dummy_backbone

    backbone = dummy_backbone(seed=0)
    monkeypatch.setattr(runner, "cached_backbone", lambda spec, device="cpu", dtype="": backbone)


TINY = {"per_group": 2, "batch_size": 2, "steps": 2, "epochs": 1, "seeds": [0], "augment": "affine"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (TINY | {"seeds": []}, "1 to 5 training seeds"),
        (TINY | {"seeds": [0, 0]}, "seeds must differ"),
        (TINY | {"per_group": 10**9}, "per_group"),
        (TINY | {"epochs": 0}, "epochs"),
        (TINY | {"method": "nope"}, "nope"),
        (TINY | {"guidance": float("nan")}, "finite"),
        (TINY | {"colour": "red"}, "unknown comparison field"),
        (TINY | {"augment": "flip"}, "unknown image augmentation 'flip'"),
    ],
)
def test_bad_comparisons_are_refused_before_any_job_row(project, params, message):
    from debias_core.jobs.submit import submit_job

    with pytest.raises(ValueError, match=message):
        submit_job(project, "compare", params)
    assert project.list_jobs() == []


@pytest.mark.slow
def test_compare_job_generates_trains_both_sides_and_reuses_them(project, dummy_generation):
    from debias_core.jobs.comparison import comparison_of_job
    from debias_core.jobs.foreground import run_now

    store = project
    job = run_now(store, "compare", TINY).job
    assert job.status == "done"
    kinds = sorted(j.kind for j in store.list_jobs())
    assert kinds == ["compare", "generate", "train", "train"]
    result = job.result
    generate_job = result["generate_job"]
    baseline = store.get_run(result["baseline_runs"][0])
    method = store.get_run(result["method_runs"][0])
    assert baseline.method == "erm" and baseline.config["synthetic"] == "none"
    assert method.method == "ffr" and method.config["synthetic_job"] == generate_job
    assert method.config["params"] == {"stage2": "llr"}
    assert baseline.config["augment"] == method.config["augment"] == "affine"  # both sides

    config, summary = comparison_of_job(store, job.id)
    assert config.seeds == (0,) and not summary.paired_by_seed
    e = summary.method.worst_group
    assert e.low <= e.value <= e.high
    text = summary.markdown()
    assert "worst group [95%]" in text and "Worst-group lift" in text and "(n=" in text

    # The same comparison again is a new compare job whose steps are all reused.
    again = run_now(store, "compare", TINY).job
    assert again.id != job.id and again.result["method_runs"] == result["method_runs"]
    assert sorted(j.kind for j in store.list_jobs()).count("train") == 2


@pytest.mark.slow
def test_two_seeds_give_a_lift_paired_by_seed(project, dummy_generation):
    from debias_core.jobs.comparison import comparison_of_job
    from debias_core.jobs.foreground import run_now

    job = run_now(project, "compare", TINY | {"seeds": [0, 1]}).job
    _, summary = comparison_of_job(project, job.id)
    assert summary.paired_by_seed and summary.lift.estimate.n == 2
    assert len(summary.baseline.run_ids) == 2 and "paired by seed over 2 seeds" in (
        summary.markdown()
    )
