"""Classifier factory: features / head split, seeded init, clear errors for missing weights."""

from __future__ import annotations

import pytest
import torch

from debias_core.models.checkpoints import CheckpointMissing
from debias_core.models.classifiers import ClassifierSpec, create_classifier


@pytest.mark.parametrize(
    "arch, dim", [("small-cnn", 64), ("spatial-cnn", 128), ("resnet18", 512), ("resnet50", 2048)]
)
def test_features_then_head_equals_forward(arch, dim):
    model = create_classifier(ClassifierSpec(arch, num_classes=3), seed=0).eval()
    x = torch.randn(2, 3, 32, 32)
    features = model.forward_features(x)
    assert features.shape == (2, dim) and model.feature_dim == dim
    assert torch.allclose(model.forward_head(features), model(x))


def test_same_seed_same_weights_and_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = create_classifier(ClassifierSpec(), seed=5)
    assert torch.rand(1) == before  # building a model does not consume the caller's RNG
    b = create_classifier(ClassifierSpec(), seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_missing_pretrained_resnet_names_model_places_and_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(CheckpointMissing) as info:
        create_classifier(ClassifierSpec("resnet50", 2, pretrained="microsoft/resnet-50"))
    message = str(info.value)
    assert "microsoft/resnet-50" in message and "download" in message
    assert str(tmp_path) in message


def test_unknown_arch_lists_valid_ones():
    with pytest.raises(ValueError, match="valid: resnet18, resnet50, small-cnn, spatial-cnn"):
        create_classifier(ClassifierSpec("vit"))


@pytest.mark.parametrize("size", [32, 64])
def test_spatial_cnn_keeps_a_4x4_layout_at_any_image_size(size):
    model = create_classifier(ClassifierSpec("spatial-cnn", 10, image_size=size)).eval()
    assert model.forward_features(torch.randn(2, 3, size, size)).shape == (2, 128)
    assert model.hidden[1].in_features == 64 * 4 * 4  # the flattened grid, not a global mean
