"""ERM through run_training: run folder, checkpoint, model selection and the store row."""

from __future__ import annotations

import json

import pytest
import torch

from debias_core.train import TrainConfig
from debias_core.train.base import TrainContext
from debias_core.train.loop import fit
from debias_core.train.run import load_run_model, run_training


def test_erm_run_is_recorded_with_config_checkpoint_and_report(tiny_project):
    messages = []
    result = run_training(
        tiny_project, TrainConfig(epochs=2, seed=3), progress=lambda f, m: messages.append(m)
    )
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert any("val WGA" in m for m in messages)
    files = {p.name for p in result.run_dir.iterdir()}
    assert files == {"config.json", "report.json", "model.safetensors"}
    assert json.loads((result.run_dir / "config.json").read_text())["seed"] == 3
    run = tiny_project.get_run(result.run_id)
    assert run.status == "done" and run.metrics["test"]["worst_group_accuracy"] == (
        result.report.worst_group_accuracy
    )
    model, config = load_run_model(tiny_project, result.run_id)
    assert config.seed == 3 and sum(p.numel() for p in model.parameters()) > 0


def test_same_seed_gives_same_metrics(tiny_project):
    a = run_training(tiny_project, TrainConfig(epochs=1, seed=0)).report
    b = run_training(tiny_project, TrainConfig(epochs=1, seed=0)).report
    assert a.to_dict() == b.to_dict()


def test_loss_goes_down_and_best_val_epoch_is_kept(tiny_project):
    from debias_core.models.classifiers import ClassifierSpec, create_classifier
    from debias_core.train.run import load_train_data

    config = TrainConfig(epochs=4, lr=3e-3)
    data = load_train_data(tiny_project, config)
    ctx = TrainContext(
        data, config, torch.device("cpu"), lambda: create_classifier(ClassifierSpec(num_classes=2))
    )
    result = fit(ctx, ctx.new_model(), data.train)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0]
    best = max(result.history, key=lambda h: (h["val_wga"], h["val_acc"]))
    assert result.best_epoch == best["epoch"]


def test_val_wga_ties_go_to_val_accuracy(tiny_project, monkeypatch):
    from debias_core.models.classifiers import ClassifierSpec, create_classifier
    from debias_core.train import loop
    from debias_core.train.run import load_train_data

    scripted = iter([(0.0, 0.1), (0.0, 0.5), (0.0, 0.3), (0.2, 0.2), (0.2, 0.2)])

    def scripted_metrics(*_):
        wga, acc = next(scripted)
        return {"val_wga": wga, "val_acc": acc}

    monkeypatch.setattr(loop, "val_metrics", scripted_metrics)
    config = TrainConfig(epochs=5)
    data = load_train_data(tiny_project, config)
    ctx = TrainContext(
        data, config, torch.device("cpu"), lambda: create_classifier(ClassifierSpec(num_classes=2))
    )
    # epoch 2 wins the 0.0 tie on accuracy; epoch 4 beats it on WGA; epoch 5 only ties epoch 4
    assert fit(ctx, ctx.new_model(), data.train).best_epoch == 4
    scripted = iter([(0.0, 0.1), (0.0, 0.5), (0.0, 0.3)])
    assert fit(ctx, ctx.new_model(), data.train, epochs=3).best_epoch == 2


def test_training_on_missing_synthetic_data_is_a_clear_error(tiny_project):
    with pytest.raises(ValueError, match="no accepted generated samples"):
        run_training(tiny_project, TrainConfig(epochs=1, synthetic="accepted"))
