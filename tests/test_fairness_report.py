"""The fairness report: every section's numbers against the store, the HTML, the CLI, the bounds.

One tiny project for the module (tests/report_project.py): two 1-epoch ERM runs and four
generated samples with person and policy decisions.
"""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image
from report_project import REASON_BAD, REASON_OK, make_report_project

from debias_core.evaluate.report import EvalReport
from debias_core.evaluate.uncertainty import balanced_interval, report_intervals
from debias_core.report import ReportOptions, build_fairness_report, write_report
from debias_core.store import SampleFilter


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_report_project(tmp_path_factory.mktemp("report") / "proj")


@pytest.fixture(scope="module")
def report(project):
    store, *_ = project
    return build_fairness_report(store)


def decode(uri: str) -> Image.Image:
    assert uri.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def test_dataset_section_counts_groups_and_shows_examples(project, report):
    store, *_ = project
    ds = report.dataset
    for g in ds.groups:
        for split in ("train", "val", "test"):
            where = SampleFilter(source="real", split=split, y=g.y, a=g.a)
            assert getattr(g, split) == store.count_samples(where)
    # TINY_DIGITS: 40 train images a class, 90% in the class's majority colour.
    assert ds.train_total == 80 and ds.aligned_fraction == pytest.approx(0.9)
    assert [(g.label, g.train) for g in ds.biased] == [("digit 0 / green", 4), ("digit 1 / red", 4)]
    assert set(ds.examples) == {g.label for g in ds.groups}
    for label, thumbs in ds.examples.items():
        assert len(thumbs) == 3
        for t in thumbs:
            sample = store.get_sample(t.sample_id)
            assert sample.split == "train" and t.group == label
            assert decode(t.uri).size == (32, 32)  # already small: never enlarged


def test_generated_section_counts_agreement_and_grid(project, report):
    _, _, _, generated = project
    gen = report.generated
    (row,) = gen.methods
    # Person: 2 accepted, 1 rejected; the 4th is accepted by the policy only.
    assert (row.method, row.total, row.accepted, row.rejected, row.pending) == ("test", 4, 3, 1, 0)
    assert (row.person_accepted, row.person_rejected) == (2, 1)
    assert (row.policy_accepted, row.policy_rejected, row.policy_review) == (4, 0, 0)
    (agreement,) = gen.agreements
    # The policy always accepts: 2 of 3 firm calls agree, and kappa is 0 (no better than chance).
    assert (agreement.policy, agreement.n_firm) == ("always", 3)
    assert agreement.observed == pytest.approx(2 / 3) and agreement.kappa == pytest.approx(0.0)
    assert gen.distance is None and "embed DIR" in gen.distance_note
    (grid,) = gen.grids
    assert [c.thumb.sample_id for c in grid.accepted] == [generated[0], generated[1], generated[3]]
    assert [c.reason for c in grid.accepted] == [REASON_OK, REASON_OK, ""]
    (rejected,) = grid.rejected
    assert (rejected.thumb.sample_id, rejected.reason, rejected.reviewer) == (
        generated[2],
        REASON_BAD,
        "ana",
    )
    assert rejected.recipe["seed"] == 2 and rejected.recipe["method"] == "test"
    assert f"regenerate {project[0].root} --sample {generated[2]} " in rejected.regenerate
    assert {(r["decision"], r["reason"], r["n"]) for r in grid.reasons} == {
        ("accept", REASON_OK, 2),
        ("reject", REASON_BAD, 1),
    }


def test_results_default_runs_intervals_and_per_run_lift(project, report):
    store, base_id, other_id, _ = project
    res = report.results
    assert [r.run_id for r in res.runs] == [base_id, other_id] and res.baseline_id == base_id
    for view in res.runs:
        stored = EvalReport.from_dict(store.get_run(view.run_id).metrics["test"])
        assert view.intervals == report_intervals(stored)
        counts = [(round(r.accuracy * r.n), r.n) for r in stored.per_group]
        assert view.balanced == balanced_interval(counts)
    assert res.runs[1].data == "real + 3 accepted generated (test 3)"
    (lift,) = res.lifts
    base_wga = res.runs[0].intervals.worst_group
    other_wga = res.runs[1].intervals.worst_group
    assert lift.kind == "per-run" and lift.value == pytest.approx(other_wga.value - base_wga.value)
    overlap = base_wga.low <= other_wga.high and other_wga.low <= base_wga.high
    assert lift.overlap == overlap and lift.significant == (not overlap)


def test_paired_lift_by_seed_when_both_configurations_have_seeds(tiny_project):
    """Several seeds of both configurations: the lift is paired by seed (paired_lift)."""
    from debias_core.evaluate.uncertainty import paired_lift

    store = tiny_project
    wga = {("erm", 0): 0.5, ("erm", 1): 0.6, ("erm", 2): 0.55}
    wga |= {("groupdro", 0): 0.7, ("groupdro", 1): 0.72, ("groupdro", 2): 0.69}
    ids = {}
    for (method, seed), value in wga.items():
        ids[method, seed] = fake_run(store, method, seed, value)
    options = ReportOptions(runs=(ids["erm", 2], ids["groupdro", 2]))
    (lift,) = build_fairness_report(store, options).results.lifts
    expected = paired_lift([0.7, 0.72, 0.69], [0.5, 0.6, 0.55])
    assert lift.kind == "paired" and lift.seeds == [0, 1, 2]
    assert lift.value == pytest.approx(expected.estimate.value)
    assert (lift.low, lift.high) == pytest.approx((expected.estimate.low, expected.estimate.high))
    assert lift.significant == expected.significant


def fake_run(store, method: str, seed: int, wga: float) -> int:
    """A finished run whose stored test report has worst group `wga` out of 100 images a group
    (test input for the lift arithmetic, not a measured metric)."""
    rows = [
        {"y": y, "a": a, "class_name": f"digit {y}", "attr_name": str(a), "n": 100}
        | {"accuracy": wga if (y, a) == (0, 1) else 0.9, "aligned": y == a}
        for y in (0, 1)
        for a in (0, 1)
    ]
    test = {"per_group": rows, "worst_group_accuracy": wga, "average_accuracy": 0.8}
    test |= {"balanced_accuracy": 0.8, "average_worst_accuracy": 0.7}
    config = {"method": method, "seed": seed, "synthetic": "none", "epochs": 1}
    run_id = store.create_run("train", method, config)
    store.finish_run(run_id, {"test": test, "history": [{"val_wga": wga}]}, [], run_dir="")
    return run_id


def test_bad_options_are_refused_naming_the_valid_ones(project):
    store, base_id, other_id, _ = project
    with pytest.raises(ValueError, match=f"run 99 is not a finished training run; finished "
                       f"runs: {base_id}, {other_id}"):  # fmt: skip
        build_fairness_report(store, ReportOptions(runs=(99,)))
    with pytest.raises(ValueError, match="no generated images of method 'dbb'; methods: test"):
        build_fairness_report(store, ReportOptions(methods=("dbb",)))
    with pytest.raises(ValueError, match="thumb_size must lie in 16..128"):
        ReportOptions(thumb_size=1024).check_inputs()


def test_html_has_every_section_its_numbers_and_no_network(project, report, tmp_path):
    store, base_id, other_id, generated = project
    out, built = write_report(store, tmp_path / "report.html")
    page = out.read_text(encoding="utf-8")
    for anchor in ("summary", "dataset", "generated", "results", "card", "provenance"):
        assert f'id="{anchor}"' in page
    base = built.results.runs[0]
    assert base.intervals.worst_group.as_percent() in page.replace("%", "")
    assert f'id="run-{other_id}"' in page and f"--sample {generated[2]}" in page
    assert REASON_BAD in page and "Cohen" in page and "tiny-sd" not in page  # no backbone used
    # Self-contained: plotly.js inlined, and no external script, style, image or frame.
    from debias_core.report.html import plotly_js

    assert plotly_js() in page
    ours = page.replace(plotly_js(), "")
    assert not re.search(r'(src|href)="(https?:)?//', ours) and "<link" not in ours
    assert "@media print" in page


def test_card_lines_come_from_the_project(report):
    card = {item.title: item.lines for item in report.card}
    assert list(card) == ["Intended use", "Data", "Models", "Limitations"]
    assert "90.0% of the 80 images" in card["Intended use"][1]
    assert any("rarest group in train is digit 0 / green with 4 images" in x for x in card["Data"])
    assert "smallest test group" in card["Limitations"][0]
    assert any("one seed per configuration" in x for x in card["Limitations"])
    assert any("kappa 0.00" in x for x in card["Limitations"])


def test_card_describes_the_embedded_backbone_from_its_asset_card():
    from debias_core.report.card import _backbone_lines

    lines = _backbone_lines("embedded", "ab" * 32, 7)
    assert lines[0] == "Generator backbone embedded (weights abababababab) made 7 of the images."
    assert "trained from scratch" in lines[1] and "assets/tiny-sd/README.md" in lines[1]
    assert lines[2].startswith("Measured on its card: over 730 prompts")


def test_thumbnails_shrink_large_images(tmp_path):
    from types import SimpleNamespace

    from debias_core.report.images import thumb_uri

    Image.fromarray(np.full((512, 384, 3), 200, np.uint8)).save(tmp_path / "big.png")
    store = SimpleNamespace(root=tmp_path, resolve=lambda path, what: tmp_path / path)
    thumb = decode(thumb_uri(store, "big.png", 64))
    assert thumb.size == (48, 64)


def test_report_size_stays_bounded(project, tmp_path):
    """plotly.js (~4.6 MB) plus thumbnails: the small project's report is far under 20 MB, and
    all but plotly.js is small (images are thumbnails, not files)."""
    from debias_core.report.html import plotly_js

    store, *_ = project
    out, _ = write_report(store, tmp_path / "r.html")
    extra = out.stat().st_size - len(plotly_js().encode())
    assert out.stat().st_size < 20 * 2**20 and extra < 400_000


def test_cli_writes_the_report_and_refuses_bad_input(project, tmp_path, capsys):
    from debias_core.cli import main

    store, base_id, other_id, _ = project
    out = tmp_path / "cli.html"
    assert main(["report", str(store.root), "--out", str(out), "--runs", f"{other_id}"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    page = out.read_text()
    assert f'id="run-{other_id}"' in page and f'id="run-{base_id}"' not in page
    for argv, message in [
        (["--runs", "1,x"], "error: --runs takes run ids separated by commas"),
        (["--runs", "99"], "error: run 99 is not a finished training run"),
        (["--methods", "nope"], "error: no generated images of method 'nope'"),
    ]:
        assert main(["report", str(store.root), "--out", str(out), *argv]) == 2
        assert capsys.readouterr().err.startswith(message)
    missing = tmp_path / "no-such-folder" / "r.html"
    assert main(["report", str(store.root), "--out", str(missing)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_distance_section_reads_cached_embeddings_without_a_model(tiny_project):
    """With every compared sample embedded, the report shows the Fréchet rows (no model load);
    with one missing, it says how many are missing instead."""
    from generated_samples import add_generated, train_ids

    from debias_core.analysis.distance import frechet_distance

    store = tiny_project
    sources = train_ids(store, 0, 0)[:6]
    generated = add_generated(store, [(s, s, 0, 1) for s in sources])
    ids = store.sample_ids()
    vectors = np.random.default_rng(0).normal(size=(len(ids), 4)).astype(np.float32)
    store.put_embeddings("fake", "h1", ids[1:], vectors[1:])
    gen = build_fairness_report(store).generated
    assert gen.distance is None
    compared = len(ids) - store.count_samples(SampleFilter(split="val"))  # val is not compared
    assert gen.distance_note.startswith(f"only {compared - 1} of the {compared} samples")
    store.put_embeddings("fake", "h1", ids[:1], vectors[:1])
    gen = build_fairness_report(store).generated
    assert gen.distance is not None and gen.distance_note == ""
    overall = gen.distance.rows[0]
    test_ids = store.sample_ids(SampleFilter(source="real", split="test", y=0, a=1))
    by_id = dict(zip(ids, vectors, strict=True))
    expected = frechet_distance(
        np.stack([by_id[i] for i in generated]), np.stack([by_id[i] for i in test_ids])
    )
    assert (overall.scope, overall.n_generated) == ("overall", 6)
    assert overall.distance == pytest.approx(expected) and overall.floor is not None


def test_balanced_interval_by_hand():
    from debias_core.evaluate.uncertainty import Estimate

    # Groups that are always right or always wrong do not vary under resampling.
    assert balanced_interval([(10, 10), (0, 5)]) == Estimate(0.5, 0.5, 0.5, 15)
    # One group of 100 at 50%: the bootstrap's 95% interval is about 0.5 ± 1.96 * 0.05.
    one = balanced_interval([(50, 100)])
    assert one.value == 0.5 and one.low == pytest.approx(0.402, abs=0.02)
    assert one.high == pytest.approx(0.598, abs=0.02)
    # Two groups: the mean of the accuracies (not pooled), its interval narrower than either's.
    two = balanced_interval([(50, 100), (90, 100)])
    assert two.value == pytest.approx(0.7) and two.high - two.low < one.high - one.low
    for bad, message in [([], "no groups"), ([(3, 2)], "must lie in"), ([(1, 0)], "positive")]:
        with pytest.raises(ValueError, match=message):
            balanced_interval(bad)


def test_a_group_without_train_images_shows_test_images(tmp_path):
    from conftest import TINY_DIGITS

    from debias_core.data.ingest import create_project
    from debias_core.report.dataset import dataset_section

    options = dict(TINY_DIGITS) | {"bias_ratio": 1.0}  # no conflicting image in train
    store = create_project(tmp_path / "proj", "colored-digits", options=options)
    ds = dataset_section(store, ReportOptions(examples_per_group=2))
    assert [(g.label, g.train) for g in ds.biased] == [("digit 0 / green", 0), ("digit 1 / red", 0)]
    for g in ds.groups:
        splits = {t.split for t in ds.examples[g.label]}
        assert splits == ({"train"} if g.aligned else {"test"})
        assert len(ds.examples[g.label]) == 2
    assert "test images" in ds.examples_note
