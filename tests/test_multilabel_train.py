"""Multi-label training (Singh et al.'s standard classifier and its four loss-based baselines),
the biased pairs found by bias score, and the mAP / bias-score reports."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from debias_core.bias.pairs import find_biased_pairs
from debias_core.cli import main
from debias_core.evaluate.multilabel import build_multilabel_report
from debias_core.train.ml_class_balancing import class_balancing_loss
from debias_core.train.ml_remove_images import remove_cooccur_images
from debias_core.train.ml_remove_labels import remove_cooccur_labels
from debias_core.train.ml_weighted import weighted_exclusive_loss
from debias_core.train.multilabel import LabelLoss, weighted_bce

B, C, OTHER = 0, 2, 1  # label space: b, another object, the context c
# 6 images: b with c (3), b without c (1), c without b (1), the other object alone (1)
TARGETS = torch.tensor(
    [[1, 0, 1], [1, 0, 1], [1, 0, 1], [1, 0, 0], [0, 0, 1], [0, 1, 0]], dtype=torch.float32
)
COOCCUR = torch.tensor([True, True, True, False, False, False])
EXCLUSIVE = torch.tensor([False, False, False, True, False, False])


def ctx(**params):
    return SimpleNamespace(
        config=SimpleNamespace(params=params, method="m"), data=SimpleNamespace(pairs=((B, C),))
    )


def test_weighted_loss_weighs_b_on_its_exclusive_images_ten_times():
    loss = weighted_exclusive_loss(ctx(), TARGETS)
    assert (loss.weights[EXCLUSIVE, B] == 10).all()
    expected = torch.ones_like(TARGETS)
    expected[EXCLUSIVE, B] = 10
    assert torch.equal(loss.weights, expected)  # nothing else changes
    assert torch.equal(loss.targets, TARGETS) and loss.keep.all()
    assert (weighted_exclusive_loss(ctx(exclusive_weight=3.0), TARGETS).weights[3, B]) == 3
    # and the weight reaches the loss: one of 18 equal terms counts ten times
    logits = torch.zeros_like(TARGETS)
    plain = weighted_bce(logits, TARGETS, torch.ones_like(TARGETS))
    assert weighted_bce(logits, TARGETS, loss.weights) == pytest.approx(plain * 27 / 18)


def test_remove_cooccur_labels_takes_c_off_b_images_only():
    loss = remove_cooccur_labels(ctx(), TARGETS)
    assert (loss.targets[COOCCUR, C] == 0).all()
    assert loss.targets[4, C] == 1  # c without b keeps its label
    assert torch.equal(loss.targets[:, B], TARGETS[:, B]) and loss.keep.all()
    assert torch.equal(loss.weights, torch.ones_like(TARGETS))


def test_remove_cooccur_images_drops_exactly_the_cooccurring_images():
    loss = remove_cooccur_images(ctx(), TARGETS)
    assert torch.equal(loss.keep, ~COOCCUR)
    assert torch.equal(loss.targets, TARGETS)


def test_class_balancing_weighs_the_rare_parts_of_b_more():
    weights = class_balancing_loss(ctx(cb_beta=0.99), TARGETS).weights
    # parts of b: co-occur 3 images (the largest: weight 1), exclusive 1, neither 2
    assert weights[0, B] == pytest.approx(1.0)
    assert weights[3, B] > weights[5, B] > weights[0, B]
    assert (weights[:, [OTHER, C]] == 1).all()
    with pytest.raises(ValueError, match="cb_beta"):
        class_balancing_loss(ctx(cb_beta=1.0), TARGETS)


def test_baselines_refuse_without_biased_pairs():
    no_pairs = SimpleNamespace(
        config=SimpleNamespace(params={}, method="ml-weighted-loss"),
        data=SimpleNamespace(pairs=()),
    )
    with pytest.raises(ValueError, match="bias-pairs"):
        weighted_exclusive_loss(no_pairs, TARGETS)
    assert LabelLoss.standard(TARGETS).keep.all()


def test_find_biased_pairs_keeps_each_objects_most_biased_frequent_context():
    rng = np.random.default_rng(0)
    n = 400
    # labels: 0 = b (leans on context 2), 1 = an unbiased object, 2 and 3 = contexts
    held = np.zeros((n, 4))
    held[:, 0] = rng.random(n) < 0.5
    held[:, 1] = rng.random(n) < 0.5
    held[:, 2] = rng.random(n) < 0.5
    held[:, 3] = rng.random(n) < 0.5
    scores = np.clip(0.3 * held + 0.2 + 0.05 * rng.random((n, 4)), 0, 1)
    scores[:, 0] += 0.4 * held[:, 2]  # p(b) rises with c: biased
    train = held.copy()
    train[:, 3] = 0  # context 3 never co-occurs in train: no candidate for anything
    pairs = find_biased_pairs(scores, held, train, k=2, min_cooccur=0.1)
    assert (pairs[0].b, pairs[0].c) == (0, 2) and pairs[0].bias_score > 1.3
    assert [p.rank for p in pairs] == [1, 2] and len(pairs) == 2
    assert all(p.c != 3 for p in pairs)
    assert pairs[0].n_cooccur + pairs[0].n_exclusive == int(held[:, 0].sum())
    # a candidate filter that lets nothing through finds nothing
    assert find_biased_pairs(scores, held, train, k=2, min_cooccur=0.99) == []


def test_report_splits_exclusive_and_cooccur_and_brackets_them():
    rng = np.random.default_rng(1)
    n = 200
    targets = (rng.random((n, 3)) < 0.5).astype(float)
    scores = 0.3 * targets + 0.5 * rng.random((n, 3))
    scores[:, 0] = 0.2 * targets[:, 0] + 0.6 * targets[:, 2] + 0.2 * rng.random(n)
    report = build_multilabel_report(scores, targets, ["b", "o", "c"], [(0, 2)], draws=100)
    assert report.exclusive_map < report.cooccur_map
    assert report.pairs[0].bias_score > 1.5
    assert report.unbiased_map == pytest.approx(np.mean(report.per_class_ap[1:]))
    for name in ("exclusive_map", "cooccur_map", "unbiased_map", "all_map"):
        e = report.interval(name)
        assert e.low <= report.summary(name) <= e.high and e.high > e.low
    empty = targets.copy()
    empty[:, 1] = 0
    assert (
        build_multilabel_report(scores, empty, "boc", [(0, 2)], draws=100).per_class_ap[1] is None
    )


@pytest.mark.slow
def test_bias_pairs_train_and_compare_from_the_cli(multilabel_project, capsys):
    p = str(multilabel_project.root)
    common = ["--epochs", "2", "--json"]
    assert main(["bias-pairs", p, *common]) == 0
    found = json.loads(capsys.readouterr().out)
    assert len(found["biased_pairs"]) == 1  # the dataset's one designed pair sets k
    assert found["biased_pairs"][0]["source"] == "measured"
    assert main(["stats", p, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["biased_pairs"] == found["biased_pairs"] and stats["groups"]
    # the pairs the methods act on are the measured ones
    measured = [(r["b"], r["c"]) for r in found["biased_pairs"]]
    assert [(q.b, q.c) for q in multilabel_project.pairs_for_study()] == measured

    assert main(["train", p, "--method", "ml-remove-cooccur-images", *common]) == 0
    out = json.loads(capsys.readouterr().out)
    b, c = measured[0]
    train_ids = [s.id for s in multilabel_project.list_samples() if s.split == "train"]
    labels = multilabel_project.label_matrix(train_ids)
    kept = len(train_ids) - int((labels[:, b] * labels[:, c]).sum())
    history = json.loads((multilabel_project.root / "runs" / "0002" / "report.json").read_text())
    assert history["history"][0]["images"] == kept < len(train_ids)
    assert out["standard"]["run_id"] == found["run_id"]  # the bias-pairs run is the standard
    ml = out["multilabel"]
    assert {"exclusive_map", "cooccur_map", "unbiased_map", "all_map", "intervals"} <= set(ml)
    assert ml["pairs"][0]["b"] == b and "test" in out  # digits are the classes: groups too

    assert main(["runs", p]) == 0
    text = capsys.readouterr().out
    assert "multi-label runs" in text and "ml-remove-cooccur-images" in text


def test_multilabel_methods_are_refused_on_single_label_projects(tiny_project, capsys):
    from debias_core.jobs import LocalExecutor

    executor = LocalExecutor(tiny_project)
    executor._enqueue = lambda job_id: None
    with pytest.raises(ValueError, match="multi-label"):
        executor.submit("train", {"method": "ml-weighted-loss"})
    with pytest.raises(ValueError, match="multi-label project"):
        executor.submit("bias-pairs", {})
    assert tiny_project.list_jobs() == []
