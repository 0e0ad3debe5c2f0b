"""The CLI end to end on a tiny project: init, stats, train, runs, export, and its errors."""

from __future__ import annotations

import csv
import json

import pytest

from debias_core.cli import main


@pytest.fixture
def project(tmp_path):
    opts = json.dumps({"classes": [0, 1], "palette": ["red", "green"], "train_per_class": 40})
    assert main(["init", str(tmp_path / "p"), "--bias-ratio", "0.9", "--options", opts]) == 0
    return tmp_path / "p"


def test_stats_json_lists_every_group(project, capsys):
    capsys.readouterr()
    assert main(["stats", str(project), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {(r["y"], r["a"]) for r in rows} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert sum(r["train"] for r in rows) == 80


def test_train_writes_report_and_runs_lists_it(project, capsys):
    assert main(["train", str(project), "--epochs", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    report = json.loads((project / "runs" / "0001" / "report.json").read_text())
    assert out["test"] == report["test"]
    worst = min(out["test"]["per_group"], key=lambda r: r["accuracy"])
    wg = out["test_intervals"]["worst_group"]
    assert wg["value"] == worst["accuracy"] and wg["n"] == worst["n"]
    assert wg["low"] <= wg["value"] <= wg["high"] and len(out["test_intervals"]["per_group"]) == 4
    assert len(report["history"]) == 2
    assert main(["runs", str(project)]) == 0
    table = capsys.readouterr().out
    assert "erm" in table and "test WGA [95%]" in table and "worst class [95%]" in table


def test_export_writes_subpopbench_metadata(project, tmp_path):
    assert main(["export", str(project), "--out", str(tmp_path / "out")]) == 0
    rows = list(csv.DictReader((tmp_path / "out" / "metadata.csv").open()))
    assert rows[0].keys() >= {"filename", "y", "a", "split", "source", "sample_id", "parent_id"}
    assert all((tmp_path / "out" / r["filename"]).is_file() for r in rows)
    assert {r["split"] for r in rows} == {"0", "1", "2"}  # SubpopBench's codes


@pytest.mark.parametrize(
    "argv, message",
    [
        (["stats", "/nonexistent/project"], "is not a Debias Studio project"),
        (["train", "{p}", "--method", "nope"], "unknown training method 'nope'; valid:"),
        (["init", "{p}"], "a project already exists"),
        (["init", "{tmp}/new", "--dataset", "waterbirds"], "--root PATH is required"),
        (["init", "{tmp}/new", "--bias-ratio", "1.5"], "must be a number in (0, 1], got '1.5'"),
        (["export", "{p}", "--out", "{p}"], "is not empty"),
    ],
)
def test_bad_input_gives_one_line_error_and_status_2(project, tmp_path, capsys, argv, message):
    argv = [a.format(p=project, tmp=tmp_path) for a in argv]
    capsys.readouterr()
    assert main(argv) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("error:") and message in errors[0]
    assert not (tmp_path / "new").exists()


def test_generate_then_regenerate_reproduces_the_image(project, tmp_path, capsys):
    import numpy as np
    from live_app import save_dummy_backbone
    from PIL import Image

    from debias_core.store import SampleFilter, Store

    backbone = str(save_dummy_backbone(tmp_path / "backbone"))
    argv = ["generate", str(project), "--per-group", "2", "--steps", "2", "--backbone", backbone]
    assert main(argv) == 0
    assert "generated 8 images" in capsys.readouterr().out
    store = Store.open(project)
    sample = store.list_samples(SampleFilter(source="generated"))[3]
    assert (
        main(
            [
                "regenerate",
                str(project),
                "--sample",
                str(sample.id),
                "--out",
                str(tmp_path / "again.png"),
            ]
        )
        == 0
    )
    again = np.asarray(Image.open(tmp_path / "again.png").convert("RGB"))
    assert np.array_equal(again, np.asarray(store.sample_image(sample.id)))
    assert "bit-exact: identical to the stored image" in capsys.readouterr().out


def test_generate_with_a_missing_checkpoint_says_how_to_fetch_it(
    project, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("DEBIAS_CHECKPOINTS", str(tmp_path / "ckpt"))
    capsys.readouterr()
    assert main(["generate", str(project), "--backbone", "sd2"]) == 2
    err = capsys.readouterr().err
    assert "stabilityai/stable-diffusion-2-base" in err and "hf download" in err
    assert "Traceback" not in err
