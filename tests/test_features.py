"""The feature-extractor seam: spec parsing, unknown names, and a trained run's features."""

from __future__ import annotations

import pytest
import torch

from debias_core.analysis.features import FEATURES, parse_spec, sample_features
from debias_core.store import SampleFilter
from debias_core.train import TrainConfig
from debias_core.train.run import load_run_model, run_training
from debias_core.train.tensors import load_tensors


def test_parse_spec():
    assert parse_spec("run:12") == ("run", "12")
    assert parse_spec("clip") == ("clip", "")


def test_unknown_extractor_lists_valid_names(tiny_project):
    with pytest.raises(ValueError, match="unknown feature extractor 'nope'; valid: .*run"):
        sample_features(tiny_project, "nope", [1])
    assert "run" in FEATURES


def test_run_features_match_the_models_forward_features(tiny_project):
    run = run_training(tiny_project, TrainConfig(method="erm", epochs=1, seed=0))
    where = SampleFilter(source="real", split="val")
    ids = tiny_project.sample_ids(where)[:20]
    feats = sample_features(tiny_project, f"run:{run.run_id}", ids, batch_size=8)
    model, _ = load_run_model(tiny_project, run.run_id)
    tensors = load_tensors(tiny_project, where)
    with torch.no_grad():
        expected = model.forward_features(tensors.x[:20]).numpy()
    assert feats.shape == expected.shape
    assert abs(feats - expected).max() < 1e-5


def test_run_spec_needs_an_id(tiny_project):
    with pytest.raises(ValueError, match="need a run id"):
        sample_features(tiny_project, "run:abc", [1])
