"""CLI: embed, distance, tag, curation-export / curation-import, and their one-line errors."""

from __future__ import annotations

import json

import feature_helpers  # noqa: F401  (registers the "test-colour" extractor)
import pytest

from debias_core.cli import main
from debias_core.store import Store


@pytest.fixture
def project(tmp_path):
    opts = json.dumps({"classes": [0, 1], "palette": ["red", "green"], "train_per_class": 40})
    assert main(["init", str(tmp_path / "p"), "--bias-ratio", "0.9", "--options", opts]) == 0
    return tmp_path / "p"


def test_embed_runs_as_a_job_and_only_once_per_sample(project, capsys):
    n = Store.open(project).count_samples()
    assert main(["embed", str(project), "--features", "test-colour"]) == 0
    assert (
        f"{n} new samples embedded with test-colour ({n} in this space)" in capsys.readouterr().out
    )
    assert main(["embed", str(project), "--features", "test-colour"]) == 0
    assert "0 new samples embedded" in capsys.readouterr().out
    jobs = Store.open(project).list_jobs()
    assert [(j.kind, j.status) for j in jobs] == [("embed", "done"), ("embed", "done")]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--features", "nope"], "unknown feature extractor 'nope'"),
        (["--features", "clip:vit-b-32"], "openai/clip-vit-base-patch32"),
        (["--features", "run:5"], "no run with id 5"),
        (["--batch-size", "0"], "--batch-size: must be an integer >= 1"),
    ],
)
def test_embed_refuses_bad_input_before_queuing(project, capsys, args, message):
    assert main(["embed", str(project), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert Store.open(project).list_jobs() == []


def test_distance_prints_a_table_or_json(project, capsys):
    store = Store.open(project)
    first = store.sample_ids()[0]
    assert main(["distance", str(project), "--features", "test-colour", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["features"] == "test-colour" and report["rows"] == []  # nothing generated yet
    assert main(["distance", str(project), "--features", "test-colour"]) == 0
    assert "no generated samples" in capsys.readouterr().out
    assert main(["distance", str(project), "--reference", "train"]) == 2
    assert "must differ" in capsys.readouterr().err
    assert store.status_of(first) == "pending"


def test_tag_and_curation_csv_round_trip(project, tmp_path, capsys):
    assert main(["tag", str(project), "--ids", "1, 2", "--add", "odd,blurry"]) == 0
    assert "Tagged: 4 tag changes of 2 selected." in capsys.readouterr().out
    assert main(["tag", str(project), "--ids", "2", "--remove", "odd", "--reason", "fine"]) == 0
    store = Store.open(project)
    assert store.tags_of(1) == ["blurry", "odd"] and store.tags_of(2) == ["blurry"]
    assert store.tag_history(2)[-1]["reviewer"] == "cli"
    out = tmp_path / "curation.csv"
    assert main(["curation-export", str(project), "--out", str(out)]) == 0
    assert main(["curation-export", str(project), "--out", str(out)]) == 2  # never overwrites
    assert main(["tag", str(project), "--ids", "1", "--remove", "odd"]) == 0
    assert main(["curation-import", str(project), "--csv", str(out), "--reviewer", "ann"]) == 0
    assert "imported 2 rows: 0 decisions, 1 tags added, 0 removed" in capsys.readouterr().out
    assert store.tags_of(1) == ["blurry", "odd"]
    bad = tmp_path / "bad.csv"
    bad.write_text("sample_id,tags\n1,ok\n99999,x\n")
    assert main(["curation-import", str(project), "--csv", str(bad), "--no-sha256-check"]) == 2
    assert "line 3: no sample with id 99999" in capsys.readouterr().err
    assert store.tags_of(1) == ["blurry", "odd"]  # nothing from the bad file
    assert main(["tag", str(project), "--ids", "1,x", "--add", "a"]) == 2
    assert main(["tag", str(project), "--ids", "1", "--add", "a;b"]) == 0
    assert main(["tag", str(project), "--ids", "999999", "--add", "a"]) == 2
