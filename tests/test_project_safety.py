"""A project is created atomically and never damaged by being opened.

- `init` killed with SIGKILL at several points of the build (real processes) leaves no project
  or the previous empty folder, and running `init` again works.
- A full disk gives a one-line error and leaves nothing behind, whether or not the folder
  existed. Two real-process variants: a tiny tmpfs (a real ENOSPC; needs root with mount
  rights, skipped otherwise) and RLIMIT_FSIZE (EFBIG, works for any user, so it always runs in
  CI). Both are real processes because a crash must not be able to run clean-up code.
- Opening something that is not a project (empty file, text, foreign SQLite in either journal
  mode) changes nothing on disk; a project from a newer version is refused naming both versions.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TINY_DIGITS
from live_app import ROOT

from debias_core import __version__
from debias_core.cli import main
from debias_core.store import Store
from debias_core.store.project import known_schema

OPTIONS = json.dumps(TINY_DIGITS)


def init_argv(target: Path) -> list[str]:
    return ["init", str(target), "--options", OPTIONS]


def start_init(target: Path, preexec=None) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, "-m", "debias_core", *init_argv(target)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec,
    )


def partials(target: Path) -> list[Path]:
    return sorted(target.parent.glob(f".{target.name}.partial-*"))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def expected_count(tmp_path_factory) -> int:
    target = tmp_path_factory.mktemp("reference") / "p"
    assert main(init_argv(target)) == 0
    return Store.open(target).count_samples()


# -- SIGKILL at several points -----------------------------------------------------------------
def _building(target: Path) -> bool:
    return bool(partials(target))


def _db_written(target: Path) -> bool:
    return any((p / "project.db").exists() for p in partials(target))


def _copying(target: Path) -> bool:
    return any(len(list((p / "files").glob("*/*"))) >= 50 for p in partials(target))


KILL_POINTS = {
    "during start-up": None,
    "partial folder made": _building,
    "project.db created": _db_written,
    "images being copied": _copying,
}


@pytest.mark.slow
@pytest.mark.parametrize("existing", [False, True], ids=["new-folder", "empty-folder"])
def test_sigkill_at_any_point_leaves_no_project_and_init_works_again(
    tmp_path, expected_count, existing
):
    hit = []
    for name, condition in KILL_POINTS.items():
        target = tmp_path / name.replace(" ", "-") / "p"
        target.parent.mkdir()
        if existing:
            target.mkdir()
        proc = start_init(target)
        deadline = time.monotonic() + 120
        while condition is not None and not condition(target) and proc.poll() is None:
            assert time.monotonic() < deadline, "init neither reached the point nor ended"
            time.sleep(0.005)
        if proc.poll() is None:
            proc.kill()
            hit.append(name)
        proc.communicate(timeout=30)
        # Either nothing (or the previous empty folder), or a complete project: never half.
        if (target / "project.db").exists():
            assert Store.open(target).count_samples() == expected_count
        else:
            assert not target.exists() or list(target.iterdir()) == [], name
        assert main(init_argv(target)) == 0, name  # the stale partial is cleaned up
        assert Store.open(target).count_samples() == expected_count
        assert partials(target) == [], name
    assert len(hit) >= 3, f"killed mid-build only at {hit}"


# -- a full disk -------------------------------------------------------------------------------
def _assert_refused_and_clean(proc: subprocess.Popen, target: Path, existed: bool) -> str:
    out, err = proc.communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert partials(target) == []
    if existed:
        assert target.is_dir() and list(target.iterdir()) == []
    else:
        assert not target.exists()
    return lines[0]


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs: writes fail with ENOSPC like on a full disk."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], capture_output=True
    )
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mount.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=False)


@pytest.mark.parametrize("existed", [False, True], ids=["new-folder", "empty-folder"])
def test_full_disk_gives_one_line_and_leaves_nothing(small_disk, existed):
    target = small_disk / "p"
    if existed:
        target.mkdir()
    line = _assert_refused_and_clean(start_init(target), target, existed)
    assert "no space left to create the project" in line and "nothing was written" in line
    assert [p.name for p in small_disk.iterdir()] == (["p"] if existed else [])


def _file_size_limit(limit: int):
    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


@pytest.mark.parametrize("existed", [False, True], ids=["new-folder", "empty-folder"])
def test_file_size_limit_gives_one_line_and_leaves_nothing(tmp_path, existed):
    """RLIMIT_FSIZE: every write past 300 bytes fails (EFBIG), as a quota would."""
    target = tmp_path / "p"
    if existed:
        target.mkdir()
    line = _assert_refused_and_clean(start_init(target, _file_size_limit(300)), target, existed)
    assert "no space left to create the project (File too large)" in line


# -- opening what is not a project -------------------------------------------------------------
def _foreign_sqlite(path: Path, mode: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"pragma journal_mode={mode}")
    conn.execute("create table notes (body text)")
    conn.execute("insert into notes values ('mine')")
    conn.commit()
    conn.close()


NOT_PROJECTS = {
    "empty file": (lambda p: p.write_bytes(b""), "an empty file"),
    "text file": (lambda p: p.write_text("hello\n" * 50), "not an SQLite file"),
    "foreign sqlite": (lambda p: _foreign_sqlite(p, "delete"), "not a Debias Studio project"),
    "foreign wal sqlite": (lambda p: _foreign_sqlite(p, "wal"), "not a Debias Studio project"),
}


@pytest.mark.parametrize("kind", NOT_PROJECTS)
def test_opening_a_file_that_is_not_a_project_writes_nothing(tmp_path, capsys, kind):
    make, message = NOT_PROJECTS[kind]
    db = tmp_path / "project.db"
    make(db)
    before = (digest(db), sorted(p.name for p in tmp_path.iterdir()), db.stat().st_mtime_ns)
    for argv in (["stats", str(tmp_path)], ["jobs", str(tmp_path)], ["init", str(tmp_path)]):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:"), err
        if argv[0] != "init":
            assert message in err[0]
    import app as studio

    assert studio.main(["--project", str(tmp_path)]) == 2
    after = (digest(db), sorted(p.name for p in tmp_path.iterdir()), db.stat().st_mtime_ns)
    assert after == before  # no -wal / -shm, same bytes (journal mode included)


def test_init_into_a_file_or_a_full_folder_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("keep me")
    for target, message in [("file", "is a file"), ("full", "is not empty and holds no project")]:
        capsys.readouterr()
        assert main(["init", str(tmp_path / target)]) == 2
        assert message in capsys.readouterr().err
    assert (tmp_path / "file").read_text() == "x"
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["notes.txt"]


def test_a_project_from_a_newer_version_is_refused_naming_both_versions(tmp_path, capsys):
    store = Store.create(tmp_path / "p", {})
    store.set_meta(software_version="9.9.0")
    with store.write() as db:
        db["_sqlite_migrations"].insert(
            {"migration_set": "debias_studio", "name": "0099_from_the_future", "applied_at": ""}
        )
    store.close()
    before = digest(tmp_path / "p" / "project.db")
    assert main(["stats", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "written by Debias Studio 9.9.0 (schema 0099_from_the_future)" in err
    assert f"this is Debias Studio {__version__} (schema up to {known_schema()[-1]})" in err
    assert digest(tmp_path / "p" / "project.db") == before


def test_opening_an_older_project_records_the_version_that_migrated_it(tmp_path):
    store = Store.create(tmp_path / "p", {})
    with store.write() as db:
        db.execute("delete from _sqlite_migrations where name = '0004_job_ownership'")
        db.execute("drop index idx_jobs_kind_config_key")
        db["jobs"].transform(drop={"owner", "config_key"})
        db["project"].delete("software_version")
    store.close()
    reopened = Store.open(tmp_path / "p")
    assert reopened.meta()["software_version"] == __version__
    assert {"owner", "config_key"} <= set(reopened.db["jobs"].columns_dict)
