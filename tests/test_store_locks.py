"""Opening a project again in a process that has it open keeps that process's SQLite locks.

POSIX drops every fcntl lock a process holds on a file when any descriptor of that file is
closed in the process. Reading project.db's header with open() / close() while a connection was
open let another process take itself for the last connection: closing, it deleted the -wal and
-shm files under the first process, whose next writes failed with "disk I/O error" (seen with a
DBB generation job, which opens its project again to rank samples, and a second process that
listed the jobs).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from live_app import ROOT

from debias_core.store import Store
from debias_core.store.project import NotAProject

PEEK = (
    "import sys; sys.path.insert(0, sys.argv[2]); from debias_core.store import Store; "
    "Store.open(sys.argv[1]).list_jobs()"
)


def test_a_second_open_in_the_same_process_keeps_the_wal_of_the_first(tiny_project):
    root = tiny_project.root
    store = Store.open(root)
    with store.write() as db:  # a WAL-mode connection that has written
        db.execute("update project set value = value where key = 'format'")
    Store.open(root).list_jobs()  # the same project again, as cached helpers do
    subprocess.run([sys.executable, "-c", PEEK, str(root), str(ROOT)], check=True)
    assert (root / "project.db-wal").exists() and (root / "project.db-shm").exists()
    with store.write() as db:  # and this process still writes
        db.execute("update project set value = value where key = 'format'")


def test_a_foreign_file_is_still_refused(tmp_path):
    (tmp_path / "project.db").write_bytes(b"")
    with pytest.raises(NotAProject, match="an empty file"):
        Store.open(tmp_path)
