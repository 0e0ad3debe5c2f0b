"""`init` into an empty folder that rename(2) cannot replace (a mount point, e.g. a Docker
volume): the project is filled in place, still appearing complete or not at all."""

from __future__ import annotations

import errno
import json
import os
import socket

import pytest
from conftest import TINY_DIGITS

from debias_core.cli import main
from debias_core.data import ingest
from debias_core.process import ProcessId
from debias_core.store import Store

OPTIONS = json.dumps(TINY_DIGITS)


@pytest.fixture
def mount_point(tmp_path, monkeypatch):
    """An empty folder that behaves like a mount point: renaming onto it fails with EBUSY."""
    target = tmp_path / "volume"
    target.mkdir()
    rename = os.rename

    def busy_rename(src, dst, *args, **kwargs):
        if os.path.abspath(dst) == str(target):
            raise OSError(errno.EBUSY, "Device or resource busy", str(dst))
        return rename(src, dst, *args, **kwargs)

    monkeypatch.setattr(ingest.os, "rename", busy_rename)
    return target


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_init_fills_an_empty_folder_it_cannot_rename_onto(mount_point, capsys):
    assert main(["init", str(mount_point), "--options", OPTIONS]) == 0, capsys.readouterr().err
    store = Store.open(mount_point)
    assert store.count_samples() > 0 and store.sample_image(1).size == (32, 32)
    assert leftovers(mount_point) == [] and leftovers(mount_point.parent) == []


def test_a_detected_mount_point_is_built_inside(mount_point, monkeypatch):
    monkeypatch.setattr(ingest.os.path, "ismount", lambda p: str(p) == str(mount_point))
    assert main(["init", str(mount_point), "--options", OPTIONS]) == 0
    assert Store.open(mount_point).count_samples() > 0
    assert leftovers(mount_point) == [] and leftovers(mount_point.parent) == []


def test_a_failed_fill_leaves_the_folder_empty_and_a_stale_one_is_cleared(mount_point, monkeypatch):
    def fail(src, dst):
        raise OSError(errno.EIO, "Input/output error", str(dst))

    monkeypatch.setattr(ingest.os, "replace", fail)  # the last step: project.db into place
    assert main(["init", str(mount_point), "--options", OPTIONS]) == 2
    assert list(mount_point.iterdir()) == [] and leftovers(mount_point.parent) == []
    monkeypatch.undo()
    # A killed fill: the marker of a process that is gone, and half the folders.
    (mount_point / "files").mkdir()
    gone = ProcessId(socket.gethostname(), 2**22 + 7, "0")
    (mount_point / ingest.BUILDING).write_text(gone.to_text())
    assert main(["init", str(mount_point), "--options", OPTIONS]) == 0
    assert Store.open(mount_point).count_samples() > 0
    assert not (mount_point / ingest.BUILDING).exists()
