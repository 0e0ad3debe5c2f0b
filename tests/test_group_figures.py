"""Per-group charts at 80 groups (sorted, zeros visible) and runs labelled with their data."""

from __future__ import annotations

import numpy as np
import pytest

from debias_core.analysis.group_figures import (
    ZERO_COLOR,
    group_accuracy_bars,
    group_counts_figure,
)
from debias_core.bias.stats import GroupStat
from debias_core.evaluate.report import EvalReport, GroupRow
from debias_core.store import GeneratedImage, Recipe
from debias_core.train.variants import data_variant


def stat(y: int, a: int, train: int, accepted: int = 0) -> GroupStat:
    return GroupStat(
        y, a, f"digit {y}", f"colour {a}", aligned=y == a, train=train, val=1, test=2,
        generated_accepted=accepted, generated_pending=0, generated_rejected=0,
    )  # fmt: skip


def eighty_groups() -> list[GroupStat]:
    """10 classes x 8 colours: aligned groups 500, conflicting 0-6 (some zero), a few with
    accepted generated images."""
    out = []
    for y in range(10):
        for a in range(8):
            train = 500 if y == a else (y * 8 + a) % 7
            accepted = 5 if (y, a) in {(0, 7), (3, 1)} else 0
            out.append(stat(y, a, train, accepted))
    return out


def by_name(fig, name):
    return next(t for t in fig.data if t.name == name)


def test_counts_chart_at_80_groups_is_sorted_and_shows_zero_groups():
    stats = eighty_groups()
    fig = group_counts_figure(stats)
    order = list(fig.layout.yaxis.categoryarray)
    assert len(order) == 80 and set(order) == {s.label for s in stats}
    expected = sorted(stats, key=lambda s: (s.train, s.generated_accepted, s.label))
    assert order == [s.label for s in expected]  # rarest first ...
    assert fig.layout.yaxis.autorange == "reversed"  # ... drawn at the top
    zero = {s.label for s in stats if s.train == 0 and s.generated_accepted == 0}
    assert len(zero) == 9  # (y*8 + a) % 7 == 0 off the diagonal, (0, 7) has generated ones
    marks = by_name(fig, "zero")
    assert set(marks.y) == zero and set(marks.x) == {0} and marks.marker.color == ZERO_COLOR
    text = next(t for t in fig.data if getattr(t, "mode", "") == "text")
    labels = dict(zip(text.y, (t.strip() for t in text.text), strict=True))
    assert all(labels[g] == "0" for g in zero)
    assert labels["digit 0 / colour 7"] == "0 + 5" and labels["digit 3 / colour 3"] == "500"
    assert list(by_name(fig, "generated (accepted)").x).count(5) == 2
    aligned, conflicting = by_name(fig, "aligned"), by_name(fig, "conflicting")
    assert len(aligned.y) == 8 and len(conflicting.y) == 72
    assert all(t.orientation == "h" for t in (aligned, conflicting))
    assert fig.layout.height >= 80 * 18  # a row per group: labels do not overlap


def test_accuracy_chart_puts_the_worst_group_first_and_marks_zero():
    rows = [
        GroupRow(0, 0, "a", "x", 10, 0.9, True),
        GroupRow(0, 1, "a", "y", 3, 0.0, False),
        GroupRow(1, 0, "b", "x", 4, 0.5, False),
        GroupRow(1, 1, "b", "y", 9, 1.0, True),
    ]
    report = EvalReport(rows, 0.0, 0.6, 0.6, 0.25)
    fig = group_accuracy_bars(report, title="run 1")
    assert list(fig.layout.yaxis.categoryarray) == ["a / y", "b / x", "a / x", "b / y"]
    assert list(by_name(fig, "zero").y) == ["a / y"]
    text = next(t for t in fig.data if getattr(t, "mode", "") == "text")
    assert [t.strip() for t in text.text] == ["0.0%", "50.0%", "90.0%", "100.0%"]
    assert list(fig.layout.xaxis.range) == [0.0, 1.12] and fig.layout.title.text.startswith("run 1")
    assert "worst group 0.0 [0.0, 56.1] (n = 3)" in fig.layout.title.text  # 0 of 3: Wilson
    # whiskers: a / y is 0 of 3, Wilson upper end (z^2/6) / (1 + z^2/3) * 2 = 0.561497 by hand
    conflicting = by_name(fig, "conflicting")
    assert list(conflicting.y) == ["a / y", "b / x"]
    assert conflicting.error_x.array[0] == pytest.approx(0.561497, abs=1e-5)
    assert conflicting.error_x.arrayminus[0] == 0.0


@pytest.fixture
def store_with_generated(tiny_project):
    store = tiny_project
    image = np.zeros((8, 8, 3), np.uint8)

    def made_by(method: str, n: int) -> list[int]:
        recipe = Recipe(method=method, backbone_id="dummy", backbone_hash="0", seed=0)
        return store.add_generated_unit(None, None, [GeneratedImage(image, 0, 1, recipe)] * n)

    return store, made_by("txt2img", 2) + made_by("diffinject", 1)


def test_runs_are_labelled_with_their_data_variant(store_with_generated):
    store, generated = store_with_generated

    def label(method: str, config: dict, used=()) -> str:
        run = store.create_run("train", method, config)
        store.finish_run(run, {}, list(used))
        return data_variant(store, store.get_run(run)).label()

    assert label("erm", {"synthetic": "none"}) == "real only"
    assert label("erm", {"synthetic": "accepted"}, generated) == (
        "real + 3 accepted generated (diffinject 1, txt2img 2)"
    )
    assert label("augment-uniform", {"synthetic": "all"}, generated[:2]) == (
        "real + 2 all generated (txt2img 2)"
    )
    assert label("erm", {"synthetic": "accepted"}) == "real + accepted generated"
    ffr = {"synthetic": "accepted", "params": {"stage2": "groupdro"}}
    assert label("ffr", ffr, generated[2:]) == (
        "two-stage: 1 accepted generated (diffinject 1), then real (groupdro)"
    )
    assert label("ffr-llr", {"synthetic": "accepted"}, generated[:1]) == (
        "two-stage: 1 accepted generated (txt2img 1), then real (llr)"
    )


def test_train_tab_runs_table_shows_worst_group_with_interval_and_n(tiny_project):
    from types import SimpleNamespace

    from ui.train_eval import RUN_HEADERS, runs_rows

    rows = [GroupRow(0, 0, "a", "x", 4, 0.5, True), GroupRow(0, 1, "a", "y", 5, 1.0, False)]
    report = EvalReport(rows, 0.5, 0.78, 0.75, 0.5)
    run = tiny_project.create_run("train", "erm", {"synthetic": "none", "seed": 0})
    tiny_project.finish_run(run, {"test": report.to_dict()}, [])
    (row,) = runs_rows(SimpleNamespace(store=tiny_project))
    cells = dict(zip(RUN_HEADERS, row, strict=True))
    # 2 of 4: Wilson [15.0, 85.0]; the bootstrap's worst group stays at or below 50%
    assert cells["worst group [95%]"].startswith("50.0% [") and cells["worst n"] == 4
    assert cells["worst class [95%]"].startswith("77.8% [")  # the one class: 7 of 9
