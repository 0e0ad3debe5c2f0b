"""The embedded multi-label demo: one label space, biased (digit, colour) pairs, region masks."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TINY_MULTILABEL

from debias_core.data.colored_digits import PALETTE, load_pools
from debias_core.data.colored_digits_multilabel import (
    MultiLabelDigitsConfig,
    render_multilabel,
)
from debias_core.data.world_split import world_seed

TINY = dict(TINY_MULTILABEL)


def test_labels_are_digit_and_colour_in_one_space(multilabel_project):
    store = multilabel_project
    assert store.is_multilabel()
    assert store.label_names() == ["digit 0", "digit 1", "digit 2", "red", "green", "blue"]
    samples = store.list_samples()
    targets = store.label_matrix([s.id for s in samples])
    assert (targets.sum(1) == 2).all()
    assert (targets[np.arange(len(samples)), [s.y for s in samples]] == 1).all()
    assert (targets[np.arange(len(samples)), [3 + s.a for s in samples]] == 1).all()
    assert [(p.b, p.c) for p in store.designed_pairs()] == [(0, 3)]
    assert store.biased_pairs() == []  # measured later, by the bias-pairs job
    assert [(p.b, p.c) for p in store.pairs_for_study()] == [(0, 3)]


def test_biased_digit_cooccurs_with_its_colour_in_train_only(multilabel_project):
    samples = multilabel_project.list_samples()
    train_b = [s for s in samples if s.split == "train" and s.y == 0]
    assert sum(s.a == 0 for s in train_b) == 18  # bias_ratio 0.9 of 20
    train_free = [s for s in samples if s.split == "train" and s.y == 1]
    assert sorted({s.a for s in train_free}) == [0, 1, 2]  # the context also appears without b
    assert max(sum(s.a == a for s in train_free) for a in range(3)) <= 7  # about 20 / 3 each
    for split in ("val", "test"):
        held = [s for s in samples if s.split == split and s.y == 0]
        with_c = sum(s.a == 0 for s in held)
        assert with_c and len(held) - with_c == 2 * with_c  # with and without c, balanced


def test_three_region_masks_partition_each_image(multilabel_project):
    store = multilabel_project
    sample = store.list_samples()[0]
    pixels = np.asarray(store.sample_image(sample.id))
    regions = {}
    for name in ("digit 0", "red", "background"):
        row = store.region_mask(sample.id, name)
        assert row is not None and row["segmenter"] == "dataset"
        regions[name] = store.mask_pixels(row["id"])
    stacked = np.stack(list(regions.values()))
    assert (stacked.sum(0) == 1).all()  # every pixel in exactly one region
    assert (pixels[regions["background"]] == 0).all()  # the black frame
    red = np.abs(pixels[regions["red"]].astype(int) - PALETTE["red"]).max(1)
    assert (red < 120).all() and pixels[regions["digit 0"]].mean() > 150  # nearer red than white
    # the exact foreground mask other methods read is the digit's
    exact = store.find_mask(sample.id, segmenter="dataset", prompt="foreground")
    assert (store.mask_pixels(exact["id"]) == regions["digit 0"]).all()


def test_no_task_digit_is_in_the_world_pool():
    world, _ = load_pools(world_seed())
    used = {d.source_index for d in render_multilabel(MultiLabelDigitsConfig(**TINY, seed=3))}
    assert used and not used & set(world.source_index.tolist())


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"biased_digits": (7,)}, "not among classes"),
        ({"biased_digits": (0, 1, 2), "palette": ("red", "green")}, "need as many colours"),
        ({"bias_ratio": 0.0}, "bias_ratio"),
    ],
)
def test_bad_configs_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        MultiLabelDigitsConfig(**(TINY | bad))


def test_cli_refuses_spurious_for_the_multilabel_demo(tmp_path, capsys):
    from debias_core.cli import main

    code = main(
        [
            "init",
            str(tmp_path / "p"),
            "--dataset",
            "colored-digits-multilabel",
            "--spurious",
            "stroke",
        ]
    )
    assert code == 2 and "--spurious is for colored-digits only" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
