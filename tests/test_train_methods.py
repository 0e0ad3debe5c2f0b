"""Every training method on a tiny in-process dataset, and end to end through `run_training`."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import debias_core.train  # noqa: F401  (fills the registries)
from debias_core.evaluate.compare import format_runs_table, runs_table
from debias_core.models.classifiers import SmallCNN
from debias_core.train import augment_uniform, dbb_retrain, dfr, ffr, groupdro, jtt
from debias_core.train.augment_uniform import top_up
from debias_core.train.base import TRAIN_METHODS, TrainConfig, TrainContext, TrainData
from debias_core.train.class_balanced import effective_number_weights
from debias_core.train.common import StageResult, group_counts, group_index, keep_incoming
from debias_core.train.dbb_retrain import dbb_loss
from debias_core.train.loop import fit, val_metrics
from debias_core.train.supcon import supcon_loss
from debias_core.train.tensors import Tensors

NAMES = [
    "erm",
    "reweight",
    "resample",
    "class-balanced",
    "groupdro",
    "jtt",
    "dfr",
    "augment-aux",
    "augment-uniform",
    "ffr",
    "ffr-llr",
    "supcon",
    "dbb-retrain",
    "gce",
]
NEED_SYNTHETIC = {"augment-aux", "augment-uniform", "ffr", "ffr-llr", "dbb-retrain"}
BIASED = {(0, 0): 24, (0, 1): 4, (1, 0): 4, (1, 1): 24}
EVEN = {g: 8 for g in BIASED}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from threads, and on a busy 2-core machine two OpenMP threads
    made these tests ~100x slower (measured: 8 s vs 0.05 s for one method)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_tensors(
    counts: dict, seed: int, first_id: int, synthetic: bool = False, hard: set = frozenset()
) -> Tensors:
    """8x8 images: channel 0 carries the class (weakly; not at all in `hard` groups), channel 1
    the attribute (strongly)."""
    gen = torch.Generator().manual_seed(seed)
    xs, ys, attrs = [], [], []
    for (y, a), n in counts.items():
        x = 0.3 * torch.randn(n, 3, 8, 8, generator=gen)
        x[:, 0] += 0.0 if (y, a) in hard else (2 * y - 1) * 0.5
        x[:, 1] += 2 * a - 1
        xs.append(x)
        ys += [y] * n
        attrs += [a] * n
    n = len(ys)
    ids = torch.arange(first_id, first_id + n)
    return Tensors(
        torch.cat(xs), torch.tensor(ys), torch.tensor(attrs), ids, torch.full((n,), synthetic)
    )


def make_ctx(synthetic_counts=None, epochs=3, lr=1e-2, **params) -> TrainContext:
    synthetic = (
        make_tensors(synthetic_counts, 3, 1000, synthetic=True) if synthetic_counts else None
    )
    data = TrainData(
        make_tensors(BIASED, 0, 0),
        make_tensors(EVEN, 1, 100),
        make_tensors(EVEN, 2, 200),
        synthetic,
        n_classes=2,
        n_attrs=2,
        aligned_attrs={0: 0, 1: 1},
    )
    config = TrainConfig(epochs=epochs, batch_size=16, lr=lr, image_size=8, params=params)

    def new_model():
        torch.manual_seed(0)
        return SmallCNN(2, width=4)

    return TrainContext(data, config, torch.device("cpu"), new_model)


def by_stage(history: list[dict]) -> dict[str, list[float]]:
    stages: dict[str, list[float]] = {}
    for row in history:
        if row["train_loss"] is not None:  # None: a stage's epoch 0, the incoming model scored
            stages.setdefault(row["stage"], []).append(row["train_loss"])
    return stages


# multi-label methods (label sets, BCE): tests/test_multilabel_train.py
MULTILABEL_NAMES = [
    "multilabel-bce",
    "ml-class-balancing",
    "ml-weighted-loss",
    "ml-remove-cooccur-labels",
    "ml-remove-cooccur-images",
]


def test_registry_holds_every_method():
    assert sorted(TRAIN_METHODS.names()) == sorted(NAMES + MULTILABEL_NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_loss_goes_down_and_synthetic_ids_reported(name):
    ctx = make_ctx(synthetic_counts={g: 6 for g in BIASED})
    result = TRAIN_METHODS.get(name)(ctx)
    assert all({"stage", "epoch", "train_loss", "val_wga"} <= set(r) for r in result.history)
    for stage, losses in by_stage(result.history).items():
        if len(losses) > 1:
            assert losses[-1] < losses[0], (stage, losses)
    used = set(result.synthetic_ids)
    assert used and used <= set(range(1000, 1024))
    assert isinstance(result.model(ctx.data.test.x[:2]), torch.Tensor)


@pytest.mark.parametrize("name", NAMES)
def test_without_synthetic(name):
    ctx = make_ctx(epochs=1)
    if name in NEED_SYNTHETIC:
        with pytest.raises(ValueError, match="run generate first"):
            TRAIN_METHODS.get(name)(ctx)
    else:
        assert TRAIN_METHODS.get(name)(ctx).synthetic_ids == []


def test_augment_uniform_tops_every_group_up_to_the_largest():
    ctx = make_ctx(synthetic_counts={g: 6 for g in BIASED})
    real, synthetic = ctx.data.train, ctx.data.synthetic
    index, unfilled = top_up(real, synthetic, 2, 4, torch.Generator().manual_seed(0))
    combined = Tensors.concat([real, synthetic.subset(index)])
    assert group_counts(combined, 2, 4).tolist() == [24, 24, 24, 24] and unfilled == []
    # 20 needed from 6 available per minority group: repeated; without repeats they stay short
    index, unfilled = top_up(real, synthetic, 2, 4, torch.Generator(), repeat=False)
    assert len(index) == 12 and unfilled == [1, 2]
    result = augment_uniform.augment_uniform(ctx)
    assert result.history[0]["n_added"] == 40 and result.history[0]["n_repeated"] == 28
    assert sorted(result.synthetic_ids) == sorted(synthetic.ids[index].tolist())


def test_augment_aux_balances_the_generated_set():
    ctx = make_ctx(synthetic_counts={(0, 0): 6, (0, 1): 6, (1, 0): 3, (1, 1): 6}, epochs=1)
    result = TRAIN_METHODS.get("augment-aux")(ctx)
    synthetic = ctx.data.synthetic
    used = synthetic.subset(
        torch.nonzero(torch.isin(synthetic.ids, torch.tensor(result.synthetic_ids))).flatten()
    )
    assert group_counts(used, 2, 4).tolist() == [3, 3, 3, 3]


def test_groupdro_step_is_the_exponentiated_update():
    ctx = make_ctx(eta=0.5)
    objective = groupdro.groupdro_objective(ctx, ctx.data.train, ctx.new_model())
    batch = ctx.data.train.subset(torch.tensor([0, 24, 28, 32]))  # one sample per group
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0], [1.0, 0.0], [-3.0, 3.0]])
    loss = objective.loss_fn(logits, None, batch, None)
    group_loss = F.cross_entropy(logits, batch.y, reduction="none")  # groups 0, 1, 2, 3
    q = torch.softmax(0.5 * group_loss, 0)  # from uniform: q_g ~ exp(eta * L_g)
    assert torch.allclose(torch.tensor(objective.epoch_log()["group_weights"]), q, atol=1e-6)
    assert torch.allclose(loss, (q * group_loss).sum())
    assert int(q.argmax()) == 2  # the worst group gains the most weight


def test_groupdro_weights_move_toward_the_worst_group():
    # group (1, 0) shows no class signal, and its attribute points to class 0: the hardest group
    ctx = make_ctx(eta=1.0, epochs=3)
    train = make_tensors({(0, 0): 24, (0, 1): 8, (1, 0): 8, (1, 1): 24}, 0, 0, hard={(1, 0)})
    ctx = dataclasses.replace(ctx, data=dataclasses.replace(ctx.data, train=train))
    result = TRAIN_METHODS.get("groupdro")(ctx)
    q = np.array([row["group_weights"] for row in result.history])  # (epochs, groups)
    assert np.allclose(q.sum(1), 1.0)
    assert np.all(q.argmax(1) == 2) and np.all(q[:, 2] > 0.25)  # up from uniform 1/4


def test_jtt_upweights_exactly_the_erm_errors(monkeypatch):
    ctx = make_ctx(epochs=2, lr=1e-3, jtt_epochs=1, jtt_lambda=7)
    seen, original = {}, jtt.cross_entropy

    def spy(weights=None):
        seen["weights"] = weights
        return original(weights)

    monkeypatch.setattr(jtt, "cross_entropy", spy)
    result = TRAIN_METHODS.get("jtt")(ctx)
    # the identification model, retrained independently: same init, same batches, T epochs
    erm = fit(ctx, ctx.new_model(), ctx.data.train, epochs=1, select_on_val=False)
    errors = jtt.error_mask(erm.model, ctx.data.train, ctx.device)
    assert 0 < int(errors.sum()) < len(errors)
    logged = next(r for r in result.history if "error_ids" in r)
    assert logged["error_ids"] == ctx.data.train.ids[errors].tolist()
    assert torch.equal(seen["weights"], torch.where(errors, 7.0, 1.0))


def test_dfr_changes_only_the_head(monkeypatch):
    ctx = make_ctx(epochs=2)
    seen, original = {}, dfr.retrain_head

    def spy(ctx, model, data, **kw):
        seen["before"] = copy.deepcopy(model.state_dict())
        seen["data"] = data
        return original(ctx, model, data, **kw)

    monkeypatch.setattr(dfr, "retrain_head", spy)
    after = TRAIN_METHODS.get("dfr")(ctx).model.state_dict()
    body = [k for k in after if not k.startswith("head.")]
    assert body and all(torch.equal(seen["before"][k], after[k]) for k in body)
    assert not torch.equal(seen["before"]["head.weight"], after["head.weight"])
    # retrained on 4 of each group's 8 val samples; the other halves select the model
    held = seen["data"]
    assert group_counts(held, 2, 4).tolist() == [4, 4, 4, 4]
    first, second = dfr.split_halves(ctx.data.val, 2, torch.Generator().manual_seed(0))
    assert set(held.ids.tolist()) == set(ctx.data.val.ids[first].tolist())
    assert not set(first.tolist()) & set(second.tolist())


@pytest.mark.parametrize("stage2", ["erm", "groupdro", "jtt", "llr"])
def test_ffr_stage2_starts_from_stage1_weights(monkeypatch, stage2):
    ctx = make_ctx(synthetic_counts={g: 6 for g in BIASED}, epochs=2, stage2=stage2)
    seen = {}
    stage1, stage2_fn = ffr.train_objective, ffr.run_stage

    def spy1(ctx, model, data, objective, **kw):
        result = stage1(ctx, model, data, objective, **kw)
        seen["stage1"], seen["data1"] = copy.deepcopy(result.model.state_dict()), data
        return result

    def spy2(name, ctx, model, data, stage=None):
        seen["stage2"], seen["data2"] = copy.deepcopy(model.state_dict()), data
        return stage2_fn(name, ctx, model, data, stage)

    monkeypatch.setattr(ffr, "train_objective", spy1)
    monkeypatch.setattr(ffr, "run_stage", spy2)
    result = TRAIN_METHODS.get("ffr")(ctx)
    assert all(torch.equal(seen["stage1"][k], v) for k, v in seen["stage2"].items())
    assert bool(seen["data1"].synthetic.all()) and not bool(seen["data2"].synthetic.any())
    assert {r["stage"][0] for r in result.history} == {"1", "2"}
    if stage2 == "groupdro":
        trained = [r for r in result.history if r["stage"].startswith("2") and r["epoch"]]
        assert trained and all("group_weights" in r for r in trained)


def constant_model(like: torch.nn.Module, label: int = 0) -> torch.nn.Module:
    """A copy of `like` that predicts `label` for every image (val WGA 0)."""
    model = copy.deepcopy(like)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
        model.head.bias[label] = 1.0
    return model


@pytest.mark.parametrize("stage2", ["erm", "llr"])
def test_ffr_keeps_stage1_when_stage2_only_makes_validation_worse(monkeypatch, stage2):
    """Old behaviour: stage 2's output was returned even when it scored below stage 1."""
    ctx = make_ctx(synthetic_counts={g: 6 for g in BIASED}, epochs=2, stage2=stage2)
    seen, real_stage = {}, ffr.run_stage

    def worse_stage(name, ctx, model, data, stage=None):
        seen["stage1"] = copy.deepcopy(model)
        real_stage(name, ctx, model, data, stage)
        return ffr.StageResult(constant_model(model), [])

    monkeypatch.setattr(ffr, "run_stage", worse_stage)
    result = TRAIN_METHODS.get("ffr")(ctx)
    stage1_score = val_metrics(seen["stage1"], ctx.data.val, "cpu")
    assert (stage1_score["val_wga"], stage1_score["val_acc"]) > (0.0, 0.5)  # precondition
    kept = result.model.state_dict()
    assert all(torch.equal(v, kept[k]) for k, v in seen["stage1"].state_dict().items())
    epoch0 = [r for r in result.history if r["stage"] == f"2:{stage2}" and r["epoch"] == 0]
    assert epoch0 == [
        {"stage": f"2:{stage2}", "epoch": 0, "train_loss": None, **stage1_score}
        | {"kept_incoming": True}
    ]


def test_keep_incoming_takes_the_stage_when_it_is_better():
    ctx = make_ctx(epochs=2)
    good = fit(ctx, ctx.new_model(), ctx.data.train).model
    incoming = constant_model(good)
    result = keep_incoming(ctx, incoming, lambda m: StageResult(good, []), "2:x")
    assert result.model is good and result.history[0]["kept_incoming"] is False
    kept = keep_incoming(ctx, good, lambda m: StageResult(constant_model(m), []), "2:x")
    assert kept.model is not good  # a copy of the incoming weights, not the trained-on object
    assert all(torch.equal(v, kept.model.state_dict()[k]) for k, v in good.state_dict().items())


def test_dbb_retrain_keeps_the_erm_model_when_retraining_is_worse(monkeypatch):
    ctx = make_ctx(synthetic_counts={g: 6 for g in BIASED}, epochs=2)
    seen, real_fit = {}, dbb_retrain.fit

    def worse_fit(ctx, model, data, **kw):
        if kw.get("stage") != "retrain":
            return real_fit(ctx, model, data, **kw)
        seen["erm"] = copy.deepcopy(model)
        return StageResult(constant_model(model), [])

    monkeypatch.setattr(dbb_retrain, "fit", worse_fit)
    result = TRAIN_METHODS.get("dbb-retrain")(ctx)
    kept = result.model.state_dict()
    assert all(torch.equal(v, kept[k]) for k, v in seen["erm"].state_dict().items())


@pytest.mark.parametrize(
    "epochs, n_real, n_synthetic, expected",
    [(10, 5000, 1600, 32), (2, 7, 3, 5), (10, 1000, 5000, 10), (4, 100, 100, 4)],
)
def test_stage1_epochs_match_stage2_sample_budget(epochs, n_real, n_synthetic, expected):
    assert ffr.stage1_epochs(epochs, n_real, n_synthetic) == expected


@pytest.mark.parametrize("params, stage1_rows", [({}, None), ({"stage1_epochs": 1}, 1)])
def test_ffr_stage1_length_defaults_to_the_sample_budget(params, stage1_rows):
    ctx = make_ctx(synthetic_counts={g: 2 for g in BIASED}, epochs=1, **params)
    result = TRAIN_METHODS.get("ffr")(ctx)
    rows = [r for r in result.history if r["stage"].startswith("1")]
    n_real, n_synthetic = len(ctx.data.train), len(ctx.data.synthetic)
    assert n_synthetic < n_real  # so the budget asks for more than one epoch
    assert len(rows) == (stage1_rows or ffr.stage1_epochs(1, n_real, n_synthetic))


def test_ffr_rejects_an_unknown_stage():
    ctx = make_ctx(synthetic_counts={g: 6 for g in BIASED}, epochs=1, stage2="nope")
    with pytest.raises(ValueError, match="valid: .*groupdro"):
        TRAIN_METHODS.get("ffr")(ctx)


def test_supcon_matches_a_loop_reference_and_handles_single_class_batches():
    torch.manual_seed(0)
    z, y = torch.randn(6, 5), torch.tensor([0, 0, 1, 1, 1, 0])
    zn = F.normalize(z, dim=1)
    terms = []
    for j in range(6):
        pos = [p for p in range(6) if p != j and y[p] == y[j]]
        neg = [n for n in range(6) if y[n] != y[j]]
        log_den = torch.logsumexp(torch.stack([zn[j] @ zn[n] / 0.5 for n in neg]), 0)
        terms.append(-torch.stack([zn[j] @ zn[p] / 0.5 - log_den for p in pos]).mean())
    assert torch.allclose(supcon_loss(z, y, 0.5), torch.stack(terms).mean(), atol=1e-5)
    z1 = torch.randn(4, 5, requires_grad=True)
    loss = supcon_loss(z1, torch.zeros(4, dtype=torch.long))
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.isfinite(z1.grad).all()


def test_dbb_loss_is_train_plus_weighted_generated_directions():
    y = torch.tensor([0, 1, 0, 1, 1])
    synthetic = torch.tensor([False, False, True, True, True])
    batch = Tensors(
        torch.zeros(5, 3, 2, 2), y, torch.zeros(5, dtype=torch.long), torch.arange(5), synthetic
    )
    logits = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    per = F.cross_entropy(logits, y, reduction="none")
    expected = per[:2].mean() + 3.0 * per[2] + 5.0 * per[3:].mean()
    assert torch.allclose(dbb_loss(3.0, 5.0, 0)(logits, None, batch, None), expected)


def test_class_balanced_weights_follow_the_effective_number():
    y = torch.tensor([0] * 30 + [1] * 10)
    w = effective_number_weights(y, 0.9)
    ratio = (1 - 0.9**30) / (1 - 0.9**10)  # minority / majority weight
    assert torch.allclose(w[-1] / w[0], torch.tensor(ratio, dtype=torch.float32))
    assert torch.isclose(w.mean(), torch.tensor(1.0))


def test_group_index_is_y_times_attrs_plus_a():
    t = make_tensors({(1, 0): 1, (0, 1): 1}, 0, 0)
    assert group_index(t, 2).tolist() == [2, 1]


# -- through run_training on a real project ------------------------------------------------
def add_fake_generated(store) -> list[int]:
    from debias_core.store import GeneratedImage, Recipe

    rng = np.random.default_rng(0)
    groups = [(0, 0), (0, 1), (1, 0), (1, 1)] * 2
    images = [
        GeneratedImage(
            rng.integers(0, 255, (32, 32, 3), np.uint8), y, a, Recipe("fake", "t", "0", k)
        )
        for k, (y, a) in enumerate(groups)
    ]
    return store.add_generated_unit(None, None, images)


def test_accepted_only_selection_is_honoured(tiny_project):
    from debias_core.train.run import run_training

    ids = add_fake_generated(tiny_project)
    accepted = ids[:4]  # one per group
    tiny_project.decide(accepted, "accept", "tester")
    tiny_project.decide(ids[4:5], "reject", "tester")
    config = TrainConfig(method="augment-aux", epochs=1, synthetic="accepted")
    result = run_training(tiny_project, config)
    assert sorted(result.synthetic_ids) == accepted
    assert sorted(tiny_project.get_run(result.run_id).synthetic_ids) == accepted
    result = run_training(tiny_project, dataclasses.replace(config, synthetic="all"))
    assert sorted(result.synthetic_ids) == ids


def test_every_method_runs_end_to_end(tiny_project):
    from debias_core.train.run import run_training

    add_fake_generated(tiny_project)
    for name in NAMES:
        synthetic = "all" if name in NEED_SYNTHETIC else "none"
        config = TrainConfig(method=name, epochs=1, synthetic=synthetic, params={"jtt_epochs": 1})
        result = run_training(tiny_project, config)
        assert 0.0 <= result.report.worst_group_accuracy <= 1.0
        assert (result.run_dir / "report.json").exists()
    rows = runs_table(tiny_project)
    assert [r["method"] for r in rows] == NAMES
    assert all(r["status"] == "done" and r["wall_s"] >= 0 for r in rows)
    assert [r["n_synthetic"] > 0 for r in rows] == [n in NEED_SYNTHETIC for n in NAMES]
    table = format_runs_table(rows)
    assert all(n in table for n in NAMES) and len(table.splitlines()) == len(NAMES) + 2


def test_format_runs_table_handles_missing_values():
    row = {"run": 1, "method": "ffr", "params": {"stage2": "groupdro"}, "test_wga": None}
    text = format_runs_table([row])
    assert "ffr (stage2=groupdro)" in text and "| -" in text
    assert format_runs_table([]) == "no training runs yet"


def test_runs_table_shows_which_generated_samples_a_run_learned_from(tiny_project):
    store = tiny_project
    configs = [
        {"synthetic": "accepted", "synthetic_method": "dbb"},
        {"synthetic": "all", "synthetic_job": 3},
        {"synthetic": "accepted"},
        {"synthetic": "none"},
    ]
    for config in configs:
        store.create_run("train", "erm", config)
    rows = runs_table(store)
    assert (rows[0]["synthetic_method"], rows[1]["synthetic_job"]) == ("dbb", 3)
    cells = [line.split("|")[3].strip() for line in format_runs_table(rows).splitlines()[2:]]
    assert cells == ["accepted of dbb", "all from job 3", "accepted", "none"]
