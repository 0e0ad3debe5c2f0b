"""Colored Digits `style`: the task pool drawn in a way the embedded model never saw."""

from __future__ import annotations

import numpy as np
import pytest

from debias_core.data.colored_digits import ColoredDigitsConfig, render_dataset

SMALL = {"classes": (0, 1), "palette": ("red", "green"), "train_per_class": 10}


def _render(style: str, seed: int = 0):
    return render_dataset(ColoredDigitsConfig(**SMALL, style=style, seed=seed))


def test_styles_change_pixels_only_and_are_deterministic():
    plain = _render("plain")
    for style in ("thick", "slant", "noisy"):
        styled, again = _render(style), _render(style)
        assert [(s.y, s.a, s.split, s.source_index, s.shift) for s in styled] == [
            (s.y, s.a, s.split, s.source_index, s.shift) for s in plain
        ]
        assert all(np.array_equal(a.image, b.image) for a, b in zip(styled, again, strict=True))
        assert not any(np.array_equal(a.image, b.image) for a, b in zip(styled, plain, strict=True))
    thick = _render("thick")
    assert np.mean([s.mask.mean() for s in thick]) > 1.3 * np.mean([s.mask.mean() for s in plain])
    noisy, noisy_other_seed = _render("noisy"), _render("noisy", seed=1)
    assert all(np.array_equal(a.mask, b.mask) for a, b in zip(noisy, plain, strict=True))
    assert not np.array_equal(noisy[0].image, noisy_other_seed[0].image)


def test_slant_shears_the_digit():
    plain, slant = _render("plain")[0], _render("slant")[0]
    rows = np.nonzero(plain.mask.any(axis=1))[0]
    top, bottom = rows[: len(rows) // 3], rows[-len(rows) // 3 :]

    def centre(mask, band):
        return np.mean([np.nonzero(mask[r])[0].mean() for r in band if mask[r].any()])

    lean = centre(slant.mask, top) - centre(slant.mask, bottom)
    assert lean > centre(plain.mask, top) - centre(plain.mask, bottom) + 2  # top leans right


def test_unknown_style_is_a_clear_error():
    with pytest.raises(ValueError, match="style must be one of"):
        ColoredDigitsConfig(style="bold")


def test_init_with_style_records_it(tmp_path):
    from debias_core.cli import main
    from debias_core.store import Store

    code = main(
        [
            "init",
            str(tmp_path / "p"),
            "--style",
            "thick",
            "--options",
            '{"classes": [0, 1], "palette": ["red", "green"], "train_per_class": 5}',
        ]
    )
    assert code == 0
    assert Store.open(tmp_path / "p").meta()["dataset_params"]["style"] == "thick"
