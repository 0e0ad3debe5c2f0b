"""`personalize` and `artifacts` on the command line: results, JSON, and one-line errors."""

from __future__ import annotations

import json

import pytest

from debias_core.cli import main


def test_personalize_then_list_artifacts(tiny_project, backbone_dir, capsys):
    root = str(tiny_project.root)
    args = ["personalize", root, "--method", "textual-inversion", "--classes", "0", "1"]
    args += ["--steps", "3", "--batch", "2", "--backbone", backbone_dir]
    assert main([*args, "--param", "samples_per_class=3"]) == 0
    out = capsys.readouterr().out
    assert "2 artifacts for 2 concepts" in out and "<c-0>" in out and "<c-1>" in out
    assert main(["artifacts", root, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["kind"], len(r["sample_ids"])) for r in rows] == [
        ("<c-0>", "token", 3),
        ("<c-1>", "token", 3),
    ]
    assert all(len(r["loss_curve"]) == 3 and len(r["sha256"]) == 64 for r in rows)
    assert "artifacts" in {t for t in tiny_project.db.table_names()}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--samples", "1,123456"], "unknown sample ids: [123456]"),
        (["--groups", "0"], "a group is written y,a"),
        (["--classes", "0", "--steps", "0"], "--steps: must be an integer >= 1"),
        (["--classes", "0", "--param", "rank"], "--param takes key=value"),
        (["--classes", "0", "--param", "rank=x"], "cannot read 'x' as int"),
    ],
)
def test_bad_input_exits_2_with_one_line(tiny_project, backbone_dir, capsys, extra, message):
    args = ["personalize", str(tiny_project.root), "--method", "per-image"]
    assert main([*args, "--backbone", backbone_dir, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert tiny_project.list_jobs() == []
