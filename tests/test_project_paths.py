"""Stored paths are relative to the project: a copied project works from any working directory.

Before, `train` stored its run folder relative to the directory it was run from, so a copy of
the project read the original's model, and the same project opened from elsewhere had a run
"done without a model".
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from debias_core.cli import main
from debias_core.store import Store
from debias_core.store.artifacts import Artifact, file_sha256
from debias_core.store.paths import OutsideProject, relocate

TINY = json.dumps({"classes": [0, 1], "palette": ["red", "green"], "train_per_class": 16})


def add_artifact(store: Store) -> int:
    folder = store.artifacts_dir(1)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "token.bin").write_bytes(b"learned")
    artifact = Artifact(
        kind="token",
        scope="class",
        method="textual-inversion",
        concept="class-0",
        name="<c0>",
        path=store.relative(folder / "token.bin"),
        sha256=file_sha256(folder / "token.bin"),
    )
    return store.add_artifacts([artifact])[0]


@pytest.fixture
def copied(tmp_path, monkeypatch):
    """A trained project made from `work/` with a relative DIR, copied, the original deleted;
    the working directory is then another folder."""
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(work)
    assert main(["init", "p", "--bias-ratio", "0.9", "--options", TINY]) == 0
    assert main(["train", "p", "--method", "erm", "--epochs", "1"]) == 0
    add_artifact(Store.open(Path("p")))
    shutil.copytree(work / "p", tmp_path / "copy")
    shutil.rmtree(work / "p")
    monkeypatch.chdir(elsewhere)
    return tmp_path / "copy"


def test_a_copied_project_uses_its_own_files_from_another_directory(copied):
    from debias_core.analysis.attribution import attribute, sample_mask, thumbnail_path
    from debias_core.analysis.features.run import RunFeatures
    from debias_core.generate.dbb import check_erm_run
    from debias_core.verify.resources import check_run

    store = Store.open(copied)
    run = store.get_run(1)
    assert run.dir == "runs/0001" and store.run_dir(run) == copied / "runs" / "0001"
    check_erm_run(store, 1)  # generate --method dbb --run 1
    check_run(store, 1, "verify")  # verify --policy dbb --run 1, diffinject's run lookup
    features = RunFeatures(store, "1")  # features=run:1
    assert features.embed(np.zeros((1, 32, 32, 3), np.uint8)).shape[0] == 1
    assert store.verified_artifact(1).path.startswith("artifacts/job-1/")
    sample = store.get_sample(1)
    assert store.sample_path(sample).is_relative_to(copied)
    assert sample_mask(store, sample) is not None  # the dataset's mask
    assert thumbnail_path(store, sample).is_relative_to(copied)
    overlay = attribute(store, 1, 1).overlay_path
    assert (copied / overlay).is_file()


def run_migration_again(store: Store) -> None:
    store.db.execute("delete from _sqlite_migrations where name = '0009_relative_paths'")
    store.db.conn.commit()


def test_the_migration_rewrites_working_directory_and_absolute_rows(copied):
    store = Store.open(copied)
    sample = store.get_sample(2)
    with store.write() as db:  # as older versions wrote them
        db.execute("update runs set dir = 'p/runs/0001' where id = 1")
        db.execute(
            "update artifacts set path = ? where id = 1",
            [str(copied / "artifacts/job-1/token.bin")],
        )
        db.execute("update samples set path = ? where id = 2", [f"/gone/p/{sample.path}"])
    run_migration_again(store)
    store = Store.open(copied)
    assert store.get_run(1).dir == "runs/0001"
    assert store.get_artifact(1).path == "artifacts/job-1/token.bin"
    assert store.get_sample(2).path == sample.path
    check_run_model = store.run_dir(store.get_run(1)) / "model.safetensors"
    assert check_run_model.is_file()


def test_relocate_keeps_good_paths_and_leaves_foreign_ones_to_be_refused(tmp_path):
    assert relocate("runs/0003", "runs", tmp_path) == "runs/0003"
    assert relocate(str(tmp_path / "runs/0003"), "runs", tmp_path) == "runs/0003"
    assert relocate("../x/p/runs/0003", "runs", tmp_path) == "runs/0003"
    assert relocate("/etc/passwd", "files", tmp_path) == "/etc/passwd"


def test_rows_pointing_outside_the_project_are_refused_on_read(copied):
    from debias_core.generate.dbb import check_erm_run

    store = Store.open(copied)
    with store.write() as db:
        db.execute("update runs set dir = '../../elsewhere/runs/0001' where id = 1")
        db.execute("update artifacts set path = '/etc/passwd' where id = 1")
        db.execute("update samples set path = '/etc/hostname' where id = 1")
    with pytest.raises(OutsideProject, match="run 1 has the path '../../elsewhere/runs/0001'"):
        check_erm_run(store, 1)
    with pytest.raises(OutsideProject, match="artifact 1 has the path '/etc/passwd'"):
        store.verified_artifact(1)
    with pytest.raises(OutsideProject, match="sample 1 has the path '/etc/hostname'"):
        store.sample_image(1)
    assert main(["generate", str(copied), "--method", "dbb", "--run", "1"]) == 2
