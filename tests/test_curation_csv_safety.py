"""Curation CSVs from anywhere: formula cells escaped, bounded reading, no echo of a file that is
not a curation CSV, ids beyond 64 bits, sha256 required, encodings named."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from test_curation_io import make_store

from debias_core.cli import main
from debias_core.data import curation_io
from debias_core.data.curation_io import export_zip, import_curation_csv, write_curation_csv
from debias_core.limits import MAX_CURATION_LINE
from debias_core.store import Store

ROOT = Path(__file__).resolve().parent.parent
FORMULAS = ['=HYPERLINK("http://x","y")', "+1+2", "-3", "@SUM(A1)", "\tcmd", "\rcmd", "'=x"]


def n_decisions(store: Store) -> int:
    return store.query("select count(*) as n from decisions")[0]["n"]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The CLI as a real process (a generous timeout: the machine may be busy)."""
    return subprocess.run(
        [sys.executable, "-m", "debias_core", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def project(tmp_path):
    opts = json.dumps({"classes": [0, 1], "palette": ["red", "green"], "train_per_class": 8})
    assert main(["init", str(tmp_path / "p"), "--options", opts]) == 0
    return tmp_path / "p"


# -- 3. formula injection ------------------------------------------------------------------------
def test_formula_cells_are_escaped_on_export_and_round_trip_exactly(tmp_path):
    source = make_store(tmp_path / "a")
    for sid, reason in enumerate(FORMULAS, start=1):
        if sid <= 6:
            source.decide([sid], "accept", "=evil", reason=reason)
    source.add_tags([1], ["-minus", "@at"], "ann")
    path = tmp_path / "curation.csv"
    write_curation_csv(source, path)
    rows = list(csv.DictReader(path.open(newline="", encoding="utf-8")))
    cells = [c for r in rows for c in (r["reason"], r["tags"], r["reviewer"]) if c]
    assert cells and all(not c.startswith(curation_io.FORMULA_STARTS) for c in cells)
    assert rows[0]["reason"] == "'" + FORMULAS[0] and rows[0]["reviewer"] == "'=evil"
    target = make_store(tmp_path / "b")
    import_curation_csv(target, path, "importer")
    for sid in range(1, 7):
        assert target.decisions_for(sid)[-1]["reason"] == FORMULAS[sid - 1]
    assert target.tags_of(1) == source.tags_of(1) == ["-minus", "@at"]
    out = export_zip(source, tmp_path / "out.zip", generated=True, status="all")
    with zipfile.ZipFile(out) as zf:
        assert zf.read("out/curation.csv") == path.read_bytes()


def test_escape_and_unescape_are_inverse_and_leave_plain_text_alone():
    for text in ["", "'", "''", "'=", "'abc", "abc", "a=b", *FORMULAS]:
        assert curation_io.unescape_cell(curation_io.escape_cell(text)) == text
    assert curation_io.escape_cell("plain") == "plain"
    assert curation_io.unescape_cell("'hand typed") == "'hand typed"


# -- 2. no echo of a file that is not a curation CSV ----------------------------------------------
@pytest.mark.parametrize("path", ["/etc/passwd", "secret"])
def test_a_foreign_file_is_refused_without_echoing_it(project, tmp_path, capsys, path):
    if path == "secret":
        path = tmp_path / "secret.csv"
        path.write_text("TOPSECRET_user,TOPSECRET_hash\nTOPSECRET_row,1\n")
    if not Path(path).is_file():
        pytest.skip(f"{path} does not exist here")
    first_line = Path(path).read_text(errors="replace").splitlines()[0]
    capsys.readouterr()
    assert main(["curation-import", str(project), "--csv", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a curation CSV" in err
    for word in first_line.replace(",", ":").split(":"):
        assert len(word) < 4 or word not in err.replace(str(path), "")


# -- 5. bounded reading ---------------------------------------------------------------------------
def test_dev_zero_ends_quickly_with_one_error_line(project):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    done = run_cli("curation-import", str(project), "--csv", "/dev/zero", timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and f"longer than {MAX_CURATION_LINE:,}" in done.stderr


def test_a_long_line_and_a_large_file_are_refused(project, tmp_path, capsys, monkeypatch):
    flat = tmp_path / "flat.csv"
    flat.write_bytes(b"sample_id,sha256,status\n" + b"1" * (4 * MAX_CURATION_LINE))
    assert main(["curation-import", str(project), "--csv", str(flat)]) == 2
    assert "line 2 is longer than 131,072 characters" in capsys.readouterr().err
    monkeypatch.setattr(curation_io, "MAX_CURATION_BYTES", 1000)
    big = tmp_path / "big.csv"
    big.write_text("sample_id,sha256,status\n" + "1,x,pending\n" * 200)
    assert main(["curation-import", str(project), "--csv", str(big)]) == 2
    assert "is 2,424 bytes; a curation CSV is at most 1,000 bytes" in capsys.readouterr().err


# -- 8. ids beyond 64 bits, fields beyond csv's limit ---------------------------------------------
@pytest.mark.parametrize(
    "argv, message",
    [
        (["tag", "{p}", "--ids", str(10**30), "--add", "x"], "--ids: a sample id must be between"),
        (["tag", "{p}", "--ids", "1," + "9" * 5000, "--add", "x"], "a sample id must be between"),
        (
            [
                "personalize",
                "{p}",
                "--method",
                "textual-inversion",
                "--samples",
                "99999999999999999999999",
            ],
            "--samples: a sample id",
        ),
        (
            ["personalize", "{p}", "--method", "textual-inversion", "--samples", ""],
            "--samples: no sample id given",
        ),
        (
            ["personalize", "{p}", "--method", "textual-inversion", "--samples", ",,,"],
            "--samples: no sample id given",
        ),
    ],
)
def test_out_of_range_and_empty_ids_get_one_clear_line(project, capsys, argv, message):
    capsys.readouterr()
    assert main([a.replace("{p}", str(project)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "internal error" not in err
    assert err.count("\n") == 1 and len(err) < 300
    assert Store.open(project).list_jobs() == []


@pytest.mark.parametrize(
    "text, message",
    [
        (f"sample_id,sha256,status\n{10**30},x,accepted\n", "line 2: sample_id must be between"),
        (
            'sample_id,sha256,status,reason\n1,x,pending,"' + "a\n" * 70_000 + '"\n',
            "is not a valid curation CSV near line",
        ),
    ],
    ids=["id-1e30", "huge-field"],
)
def test_a_huge_id_or_field_in_a_csv_is_a_clear_message(tmp_path, text, message):
    store = make_store(tmp_path / "a")
    path = tmp_path / "c.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        import_curation_csv(store, path, "ann")
    assert n_decisions(store) == 0


# -- 9. sha256 required, encodings named ----------------------------------------------------------
def test_a_csv_without_sha256_needs_the_explicit_flag(project, tmp_path, capsys):
    store = Store.open(project)
    path = tmp_path / "nosha.csv"
    path.write_text("sample_id,tags\n1,checked\n")
    assert main(["curation-import", str(project), "--csv", str(path)]) == 2
    assert "has no 'sha256' column" in capsys.readouterr().err and store.tags_of(1) == []
    path.write_text("sample_id,sha256,tags\n1,,checked\n")
    assert main(["curation-import", str(project), "--csv", str(path)]) == 2
    assert "line 2: sample 1 has no sha256" in capsys.readouterr().err
    assert main(["curation-import", str(project), "--csv", str(path), "--no-sha256-check"]) == 0
    assert store.tags_of(1) == ["checked"]


@pytest.mark.parametrize(
    "encoding, message", [("utf-16", "is UTF-16 text"), ("latin-1", "is not UTF-8 text")]
)
def test_other_encodings_are_named(project, tmp_path, capsys, encoding, message):
    path = tmp_path / "enc.csv"
    path.write_text("sample_id,sha256,tags,reason\n1,x,a,café\n", encoding=encoding)
    assert main(["curation-import", str(project), "--csv", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "must be UTF-8" in err and err.count("\n") == 1
