"""Random image augmentation in the training loop: what it draws, and that the loop uses it."""

from __future__ import annotations

import json
import math

import pytest
import torch

from debias_core.train import TrainConfig
from debias_core.train.base import TrainContext
from debias_core.train.image_augment import (
    RESCALE,
    ROTATE_DEGREES,
    SHEAR,
    affine_matrices,
    augmenter,
)
from debias_core.train.loop import fit
from debias_core.train.run import load_train_data, run_training


def test_affine_draws_within_its_ranges_and_keeps_a_plain_background():
    linear = affine_matrices(2000, torch.Generator().manual_seed(0))[:, :, :2]
    scale = torch.linalg.det(linear).abs().rsqrt()  # rotation and shear keep the area
    assert scale.min() >= 1 - RESCALE - 1e-9 and scale.max() <= 1 + RESCALE + 1e-9
    assert scale.max() - scale.min() > RESCALE  # drawn, not fixed
    # first column = rotation (cos, sin) / scale: its angle is the rotation
    angle = torch.rad2deg(torch.atan2(linear[:, 1, 0], linear[:, 0, 0])).abs()
    assert angle.max() <= ROTATE_DEGREES + 1e-6 and angle.max() > ROTATE_DEGREES / 2
    first, second = linear[:, :, 0], linear[:, :, 1]
    shear = (first * second).sum(1) / (first * first).sum(1)  # columns: R e1 / s, R (sh, 1) / s
    assert shear.abs().max() <= SHEAR + 1e-9 and shear.abs().max() > SHEAR / 2
    plain = torch.full((4, 3, 8, 8), 0.25)
    augment = augmenter("affine", seed=0)
    assert torch.allclose(augment(plain), plain)  # the border colour fills the corners


def test_affine_moves_a_stroke_and_is_reproducible_by_seed():
    stroke = torch.zeros(16, 1, 32, 32)
    stroke[:, :, 4:28, 15:17] = 1.0  # a vertical bar
    a, b = augmenter("affine", 5)(stroke), augmenter("affine", 5)(stroke)
    assert torch.equal(a, b)
    assert not torch.allclose(a, stroke, atol=0.1)
    assert not torch.allclose(a, augmenter("affine", 6)(stroke), atol=0.1)
    features = torch.zeros(4, 8)
    assert augmenter("affine", 0)(features) is features  # cached features pass through
    assert augmenter("none", 0) is None


def test_the_loop_trains_on_augmented_images_in_the_same_batch_order(tiny_project):
    from debias_core.models.classifiers import ClassifierSpec, create_classifier

    def seen_batches(augment: str) -> list[torch.Tensor]:
        config = TrainConfig(epochs=1, augment=augment, batch_size=16)
        data = load_train_data(tiny_project, config)
        ctx = TrainContext(
            data,
            config,
            torch.device("cpu"),
            lambda: create_classifier(ClassifierSpec(num_classes=2)),
        )
        model, seen = ctx.new_model(), []
        inner = model.forward_features
        model.forward_features = lambda x: seen.append(x.clone()) or inner(x)
        fit(ctx, model, data.train)
        return [x for x in seen if len(x) <= 16]  # training batches, not the validation pass

    plain, augmented = seen_batches("none"), seen_batches("affine")
    assert [len(x) for x in plain] == [len(x) for x in augmented]
    assert all(not torch.allclose(p, q) for p, q in zip(plain, augmented, strict=True))
    # the same images in the same order: each augmented batch is closest to its own plain batch
    distances = torch.tensor([[float((p - q).abs().mean()) for q in augmented] for p in plain])
    assert torch.equal(distances.argmin(1), torch.arange(len(plain)))


def test_an_augmented_run_records_its_augmentation(tiny_project):
    result = run_training(tiny_project, TrainConfig(epochs=1, augment="affine"))
    assert json.loads((result.run_dir / "config.json").read_text())["augment"] == "affine"
    assert math.isfinite(result.report.worst_group_accuracy)


def test_an_unknown_augmentation_is_refused_before_training():
    with pytest.raises(ValueError, match="unknown image augmentation 'flip'.*affine"):
        TrainConfig(augment="flip")
