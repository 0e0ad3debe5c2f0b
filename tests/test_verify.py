"""Verification: policy decisions under people's, scorers' values, policies, agreement, the job."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from generated_samples import add_generated, train_ids
from sklearn.metrics import cohen_kappa_score
from sqlite_utils import Database

from debias_core.cli import main
from debias_core.store import SampleFilter, Store
from debias_core.store.schema import FORMAT, MIGRATIONS
from debias_core.store.verify import MaskRow, PolicyVerdict
from debias_core.verify import POLICIES, SCORERS
from debias_core.verify.agreement import agreement_report, kappa, policy_agreement
from debias_core.verify.resources import class_mean_softmax, classifier, pixels, probabilities


@pytest.fixture
def generated(tiny_project):
    """Four generated samples: class-1 pixels made from class-0 parents, and two copies."""
    store = tiny_project
    zero, one = train_ids(store, 0, 0), train_ids(store, 1, 1)
    ids = add_generated(
        store, [(one[0], zero[0], 1, 0), (one[1], zero[1], 1, 0), (zero[2], zero[2], 0, 0)]
    )
    ids += add_generated(store, [(one[2], None, 1, 1)])
    return store, ids


# -- the derived status: a person outranks any policy --------------------------------------
def test_person_outranks_policy_and_undo_falls_back_to_the_policy(generated):
    store, (sid, *_) = generated
    store.record_verification([], "judge", {sid: PolicyVerdict("reject", "wrong digit")})
    assert store.status_of(sid) == "rejected"
    assert store.decide([sid], "accept", "ana") == ["accepted"]
    store.record_verification([], "judge", {sid: PolicyVerdict("reject", "again")})
    assert store.status_of(sid) == "accepted"  # a later policy verdict does not override ana
    assert store.decide([sid], "undo", "ana") == ["rejected"]  # back to the policy's word
    store.record_verification([], "judge", {sid: PolicyVerdict("needs-review")})
    assert store.status_of(sid) == "needs-review"
    origins = [(r["decision"], r["origin"], r["reviewer"]) for r in store.decisions_for(sid)]
    assert origins[:2] == [("reject", "policy", "policy:judge"), ("accept", "person", "ana")]
    with pytest.raises(ValueError, match="for policies"):
        store.decide([sid], "accept", "policy:judge")
    with pytest.raises(ValueError, match="a policy decides one of"):
        store.record_verification([], "judge", {sid: PolicyVerdict("undo")})


def test_needs_review_filter_and_counts(generated):
    store, ids = generated
    store.record_verification([], "p", {ids[0]: PolicyVerdict("needs-review")})
    store.record_verification([], "p", {ids[1]: PolicyVerdict("accept")})
    assert store.sample_ids(SampleFilter(status="needs-review")) == [ids[0]]
    # 'pending' = no firm decision, so a sample waiting for a person is still pending
    assert store.sample_ids(SampleFilter(source="generated", status="pending")) == [
        ids[0],
        ids[2],
        ids[3],
    ]
    assert store.curation_counts() == {
        "pending": 3,
        "accepted": 1,
        "rejected": 0,
        "needs-review": 1,
    }
    row = next(r for r in store.group_counts() if (r["y"], r["a"]) == (1, 0))
    assert row["generated_needs-review"] == 1 and row["generated_pending"] == 1


def test_migration_0007_keeps_older_masks_and_decisions(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    db = Database(folder / "project.db")
    MIGRATIONS.apply(db, stop_before="0007_verify")
    db["project"].insert({"key": "format", "value": FORMAT})
    db["samples"].insert(
        {"id": 1, "path": "x", "sha256": "x", "y": 0, "a": 0, "split": "train"}
        | {"source": "generated", "created_at": "t"}
    )
    t = {"created_at": "t"}
    db["masks"].insert({"sample_id": 1, "kind": "exact", "label": "foreground", "path": "m"} | t)
    db["masks"].insert({"sample_id": 1, "kind": "text-prompted", "label": "bird", "path": "n"} | t)
    db["decisions"].insert({"sample_id": 1, "decision": "accept", "reviewer": "ana"} | t)
    db["curation"].insert({"sample_id": 1, "status": "accepted", "decision_id": 1})
    db.close()
    store = Store.open(folder)
    assert store.find_mask(1, segmenter="dataset")["prompt"] == "foreground"
    assert store.find_mask(1, segmenter="unknown")["prompt"] == "bird"
    assert store.decisions_for(1)[0]["origin"] == "person"
    assert store.query("select person_status from curation")[0]["person_status"] == "accepted"
    store.record_verification([], "judge", {1: PolicyVerdict("reject")})
    assert store.status_of(1) == "accepted"


# -- agreement -------------------------------------------------------------------------------
def test_kappa_matches_sklearn_and_a_hand_computed_value():
    person = ["accept", "accept", "accept", "reject", "reject", "accept"]
    policy = ["accept", "accept", "reject", "reject", "accept", "accept"]
    # observed 4/6; expected (4/6 * 4/6) + (2/6 * 2/6) = 20/36; kappa = (24/36 - 20/36) / (16/36)
    assert kappa(person, policy) == pytest.approx(0.25)
    assert kappa(person, policy) == pytest.approx(cohen_kappa_score(person, policy))
    assert kappa(["accept"] * 3, ["accept"] * 3) is None  # undefined, not nan


def test_agreement_counts_only_samples_both_decided(tiny_project):
    store = tiny_project
    sources = train_ids(store, 0, 0)[:7]
    ids = add_generated(store, [(s, s, 0, 0) for s in sources])
    people = ["accept", "accept", "reject", "reject", "accept", None, "reject"]
    policy = ["accept", "reject", "reject", "needs-review", "accept", "accept", None]
    for sid, decision in zip(ids, people, strict=True):
        if decision:
            store.decide([sid], decision, "ana")
    verdicts = {sid: PolicyVerdict(v) for sid, v in zip(ids, policy, strict=True) if v}
    store.record_verification([], "rule", verdicts)
    store.decide([ids[1]], "accept", "bo")  # a second person: the latest person's word counts
    report = policy_agreement(store, "rule")
    # both decided: samples 0-4 -> (accept, accept), (accept, reject), (reject, reject),
    # (reject, needs-review), (accept, accept)
    assert report.n == 5 and report.n_firm == 4
    assert report.confusion == [[2, 1, 0], [0, 1, 1]]
    assert report.observed == pytest.approx(3 / 4)
    expected = cohen_kappa_score(
        ["accept", "accept", "reject", "accept"], ["accept", "reject", "reject", "accept"]
    )
    assert report.kappa == pytest.approx(expected)
    assert [r.policy for r in agreement_report(store)] == ["rule"]


# -- scorers and policies on a trained classifier --------------------------------------------
@pytest.fixture
def run_id(generated):
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    store, _ = generated
    torch.manual_seed(0)
    return run_training(store, TrainConfig(epochs=2, batch_size=32, seed=0)).run_id


def test_softmax_shift_is_the_class_mean_minus_the_source_class_probability(generated, run_id):
    store, ids = generated
    samples = store.list_samples(SampleFilter(ids=ids))
    params = SCORERS.get("softmax-shift").default_params.__class__(run=run_id)
    batch = SCORERS.get("softmax-shift").score(store, samples, params)
    assert sorted(batch.values) == ids[:3]  # the sample without a source is not scored
    model, config = classifier(store, run_id)
    probs = probabilities(model, pixels(store, ids[:3], config.image_size))
    train = store.list_samples(SampleFilter(source="real", split="train", y=0))
    own = probabilities(model, pixels(store, [s.id for s in train], 32))[:, 0]
    psi_0 = float(own.mean())
    assert class_mean_softmax(store, run_id)[0] == pytest.approx(psi_0, abs=1e-6)
    for k, sid in enumerate(ids[:3]):  # every source is class 0
        assert batch.values[sid] == pytest.approx(psi_0 - float(probs[k, 0]), abs=1e-6)
        assert batch.details[sid]["source_class"] == 0


def test_ig_in_mask_is_additive_and_complete(generated, run_id):
    store, ids = generated
    samples = store.list_samples(SampleFilter(ids=ids[:2]))
    full, left = np.ones((32, 32), bool), np.zeros((32, 32), bool)
    left[:, :16] = True
    rows = [
        MaskRow(s.parent_id, m, name, "x")
        for s in samples
        for name, m in (("full", full), ("left", left), ("right", ~left))
    ]
    store.record_masks(rows)
    scorer = SCORERS.get("ig-in-mask")
    rho = {
        name: scorer.score(store, samples, scorer.default_params.__class__(run_id, name, 64)).values
        for name in ("full", "left", "right")
    }
    model, config = classifier(store, run_id)
    p_new = probabilities(model, pixels(store, ids[:2], 32))[:, 1]
    p_src = probabilities(model, pixels(store, [s.parent_id for s in samples], 32))[:, 1]
    for k, s in enumerate(samples):
        assert rho["left"][s.id] + rho["right"][s.id] == pytest.approx(rho["full"][s.id], abs=1e-5)
        # completeness: the attributions add up to the change of the class-1 probability
        assert rho["full"][s.id] == pytest.approx(float(p_new[k] - p_src[k]), abs=0.02)
    empty = scorer.score(store, samples, scorer.default_params.__class__(run_id, "none", 8))
    assert empty.values == {}  # no mask from that segmenter: not scored


def test_dbb_policy_applies_algorithm_1_line_11():
    policy, params = POLICIES.get("dbb"), POLICIES.get("dbb").default_params
    scores = lambda shift, rho: {  # noqa: E731
        "softmax-shift": {"value": shift, "details": {}},
        "ig-in-mask": {"value": rho, "details": {}},
    }
    assert policy.decide(None, scores(0.1, 0.2), params).decision == "accept"
    assert policy.decide(None, scores(-0.1, 0.2), params).decision == "reject"
    assert policy.decide(None, scores(0.1, -0.2), params).decision == "reject"
    no_mask = {"softmax-shift": {"value": 0.3, "details": {}}, "ig-in-mask": None}
    assert policy.decide(None, no_mask, params) == PolicyVerdict(
        "needs-review", "not scored by ig-in-mask"
    )


def test_dbb_policy_calibrates_p_per_target_class():
    from types import SimpleNamespace

    policy, params = POLICIES.get("dbb"), POLICIES.get("dbb").default_params
    rhos = {1: (0, 0.1), 2: (0, 0.2), 3: (0, 0.3), 4: (0, 0.4), 5: (1, 2.0), 6: (1, 3.0)}
    samples = [SimpleNamespace(id=i, y=y) for i, (y, _) in rhos.items()]
    scores = {
        i: {"softmax-shift": {"value": 0.5}, "ig-in-mask": {"value": rho}}
        for i, (_, rho) in rhos.items()
    }
    fixed = policy.decide_all(samples, scores, params)  # P = 0 for every class: all kept
    assert {v.decision for v in fixed.values()} == {"accept"}
    median = policy.decide_all(samples, scores, dataclasses.replace(params, calibrate=0.5))
    # class 0: P = 0.25 keeps 0.3 and 0.4; class 1: P = 2.5 keeps 3.0
    assert [i for i, v in median.items() if v.decision == "accept"] == [3, 4, 6]
    with pytest.raises(ValueError, match="calibrate"):
        dataclasses.replace(params, calibrate=1.0).check_inputs()


@pytest.mark.parametrize(
    ("check", "context_ok", "conflicting", "p", "expected"),
    [
        ("recorded", True, False, 0.9, "accept"),
        ("recorded", False, True, 0.9, "reject"),
        ("conflicting", False, True, 0.9, "accept"),
        ("conflicting", True, False, 0.9, "reject"),
        ("any", False, False, 0.9, "accept"),
        ("any", False, False, 0.5, "needs-review"),  # unsure about the digit
        ("any", True, True, 0.1, "reject"),
    ],
)
def test_judge_policy_context_checks(check, context_ok, conflicting, p, expected):
    policy = POLICIES.get("judge")
    params = dataclasses.replace(policy.default_params, context=check)
    details = {"digit": 3, "stroke": "white", "background": "red"}
    details |= {"context_ok": context_ok, "conflicting": conflicting}
    verdict = policy.decide(None, {"judge": {"value": p, "details": details}}, params)
    assert verdict.decision == expected


def test_judge_reads_real_renders_right(generated):
    store, ids = generated
    real = store.list_samples(SampleFilter(source="real", split="test"))[:12]
    batch = SCORERS.get("judge").score(store, real, SCORERS.get("judge").default_params)
    digits = [int(store.class_names[s.y].split()[-1]) for s in real]
    assert [batch.details[s.id]["digit"] for s in real] == digits
    assert all(batch.details[s.id]["context_ok"] for s in real)
    aligned = store.aligned_attrs()
    assert [batch.details[s.id]["conflicting"] for s in real] == [s.a != aligned[s.y] for s in real]
    assert min(batch.values.values()) > 0.5
    # a class-1 image labelled with a red background (a=0) but drawn on green: wrong context
    wrong = store.list_samples(SampleFilter(ids=[ids[3]]))
    wrong = [dataclasses.replace(s, a=0) for s in wrong]
    assert (
        SCORERS.get("judge")
        .score(store, wrong, SCORERS.get("judge").default_params)
        .details[ids[3]]["context_ok"]
        is False
    )


# -- the verify job and the CLI ----------------------------------------------------------------
def test_verify_then_agreement_from_the_cli(generated, capsys):
    store, ids = generated
    root = str(store.root)
    assert main(["verify", root]) == 0  # judge: the default policy on Colored Digits
    assert "policy judge:" in capsys.readouterr().out
    verdicts = {sid: store.decisions_for(sid)[-1]["decision"] for sid in ids}
    # ids[0], ids[1] are class-1 digits drawn on their own green (aligned a=1) but labelled a=0
    assert verdicts[ids[0]] == verdicts[ids[1]] == "reject"
    assert verdicts[ids[2]] == "accept" and verdicts[ids[3]] == "accept"
    assert store.latest_scores(ids, "judge")[ids[2]]["details"]["digit"] == 0
    store.decide([ids[0]], "accept", "ana")
    store.decide([ids[2]], "accept", "ana")
    assert main(["agreement", root, "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["policy"] == "judge" and report["confusion"] == [[1, 1, 0], [0, 0, 0]]
    assert main(["agreement", root]) == 0
    assert "kappa" in capsys.readouterr().out


def test_dbb_policy_from_the_cli(generated, run_id, capsys):
    store, ids = generated
    assert main(["verify", str(store.root), "--policy", "dbb", "--run", str(run_id)]) == 0
    decisions = [store.decisions_for(sid)[-1] for sid in ids]
    assert decisions[3]["decision"] == "needs-review"  # no source image to compare with
    assert all(d["decision"] in ("accept", "reject") for d in decisions[:3])
    assert all("softmax-shift" in d["reason"] for d in decisions[:3])
    scores = store.latest_scores(ids, "ig-in-mask")
    assert sorted(scores) == ids[:3] and all(s["run_id"] == run_id for s in scores.values())
    capsys.readouterr()
    # masks from a segmenter nobody ran: said before any job
    args = ["verify", str(store.root), "--policy", "dbb", "--run", str(run_id)]
    assert main([*args, "--param", "segmenter=grounded-sam"]) == 2
    assert "masks DIR --segmenter grounded-sam" in capsys.readouterr().err


def test_verify_bad_input_is_one_line_before_any_job(generated, capsys):
    store, _ = generated
    root = str(store.root)
    assert main(["verify", root, "--policy", "dbb"]) == 2
    assert "error: policy dbb: softmax-shift needs a classifier run" in capsys.readouterr().err
    # other methods' images exist: say which, instead of "run generate first"
    assert main(["verify", root, "--method", "diffinject"]) == 2
    err = capsys.readouterr().err
    assert "no diffinject images exist to verify; images exist from: test" in err
    assert "run generate first" not in err
    assert main(["verify", root, "--policy", "dbb", "--run", "99"]) == 2
    assert "there is no run 99" in capsys.readouterr().err
    assert main(["verify", root, "--policy", "nope"]) == 2
    assert "unknown verdict policy 'nope'" in capsys.readouterr().err
    assert main(["verify", root, "--param", "accept_at=2"]) == 2
    assert "accept_at must be in [0.0, 1.0], got 2.0" in capsys.readouterr().err
    assert main(["verify", root, "--param", "bogus=1"]) == 2
    assert "unknown policy judge parameter(s) ['bogus']" in capsys.readouterr().err
    assert store.list_jobs() == []


def test_verify_job_resumes_without_repeating_decisions(generated, monkeypatch):
    from debias_core.jobs import LocalExecutor
    from debias_core.verify import runner

    store, ids = generated
    real_chunk, calls = runner.verify_chunk, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("simulated crash")
        return real_chunk(*args, **kwargs)

    monkeypatch.setattr(runner, "verify_chunk", flaky)
    executor = LocalExecutor(store)
    job_id = executor.submit("verify", {"policy": "judge", "chunk": 2})
    executor.wait(60)
    assert store.get_job(job_id).status == "failed"
    executor.resume(job_id)
    executor.wait(60)
    assert store.get_job(job_id).status == "done"
    per_sample = [len(store.decisions_for(sid)) for sid in ids]
    assert per_sample == [1, 1, 1, 1]


def test_a_job_failing_in_the_cli_is_one_line_and_resumable(generated, monkeypatch, capsys):
    from debias_core.verify import runner

    store, _ = generated

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(runner, "verify_chunk", boom)
    assert main(["verify", str(store.root)]) == 1  # a failed job (bad input is 2)
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress lines
    assert last == "error: verify job 1 failed: RuntimeError: boom"
    assert store.list_jobs()[0].status == "failed"


def test_a_ranking_policy_decides_once_after_every_chunk_is_scored(generated, monkeypatch):
    """A `decide_all` policy (here: keep the best judge score per class) sees all scores."""
    from debias_core.jobs.foreground import run_verify
    from debias_core.verify.policies.judge import JudgePolicy

    store, ids = generated
    seen = {}

    class BestPerClass(JudgePolicy):
        @staticmethod
        def decide_all(samples, scores, params):
            seen.update(scores)
            best = {}
            for s in samples:
                if s.y not in best or scores[s.id]["judge"]["value"] > best[s.y][1]:
                    best[s.y] = (s.id, scores[s.id]["judge"]["value"])
            keep = {sid for sid, _ in best.values()}
            return {s.id: PolicyVerdict("accept" if s.id in keep else "reject") for s in samples}

    monkeypatch.setitem(POLICIES._items, "best-per-class", BestPerClass)
    result = run_verify(store, policy="best-per-class", chunk=1)
    assert sorted(seen) == sorted(ids)  # every chunk scored before the one decision
    assert result["counts"] == {"accept": 2, "reject": 2, "needs-review": 0}
    (job,) = store.list_jobs()
    assert (job.units_done, job.units_total) == (5, 5)  # 4 scoring chunks + 1 decision
