"""The project store: one SQLite file (WAL) plus content-addressed files in one folder.

Every read and write of project state goes through `Store`. Writes run in `store.write()`, a
`BEGIN IMMEDIATE` transaction: taking the write lock up front means two writers queue on the busy
timeout instead of failing with a lock-upgrade deadlock, which a deferred BEGIN can hit.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from debias_core.store.curation import CurationMixin
from debias_core.store.embeddings import EmbeddingsMixin
from debias_core.store.jobs import JobsMixin
from debias_core.store.records import dumps, loads, now
from debias_core.store.samples import SamplesMixin
from debias_core.store.schema import FORMAT, MIGRATIONS
from debias_core.store.tags import TagsMixin
from debias_core.store.views import ViewsMixin

DB_NAME = "project.db"


class NotAProject(ValueError):
    """The folder or file is not a Debias Studio project."""


class Store(SamplesMixin, CurationMixin, JobsMixin, EmbeddingsMixin, TagsMixin, ViewsMixin):
    """A project: open with `Store.open(dir)`, make with `Store.create(dir, ...)`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.db_path = self.root / DB_NAME
        self._local = threading.local()

    # -- connections -------------------------------------------------------------------------
    @property
    def db(self) -> Database:
        """A connection per thread: sqlite3 connections must not be shared across threads."""
        db = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(self.db_path, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            db = self._local.db = Database(conn, execute_plugins=False)
        return db

    @contextmanager
    def write(self) -> Iterator[Database]:
        """A write transaction (nested calls join the outer one through savepoints)."""
        db = self.db
        if db.conn.in_transaction:
            with db.atomic():
                yield db
            return
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.conn.rollback()
            raise
        db.conn.execute("COMMIT")

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def query(self, sql: str, params: tuple | list | dict = ()) -> list[dict]:
        return list(self.db.query(sql, params))

    # -- create / open -----------------------------------------------------------------------
    @classmethod
    def create(cls, root: Path, meta: dict) -> Store:
        """Make an empty project; fails if one is already there (never overwrites)."""
        root = Path(root)
        if (root / DB_NAME).exists():
            raise FileExistsError(f"a project already exists at {root}")
        root.mkdir(parents=True, exist_ok=True)
        store = cls(root)
        MIGRATIONS.apply(store.db)
        with store.write() as db:
            rows = [{"key": "format", "value": FORMAT}, {"key": "created_at", "value": now()}]
            rows += [{"key": k, "value": dumps(v)} for k, v in meta.items()]
            db["project"].insert_all(rows, replace=True)
        return store

    @classmethod
    def open(cls, root: Path) -> Store:
        """Open a project, migrating an older schema; say so clearly if it is not a project."""
        root = Path(root)
        if root.is_file():
            root = root.parent if root.name == DB_NAME else root
        if not (root / DB_NAME).is_file():
            raise NotAProject(f"{root} is not a Debias Studio project (no {DB_NAME} in it)")
        store = cls(root)
        try:
            fmt = store.query("select value from project where key = 'format'")
        except sqlite3.DatabaseError as exc:  # not SQLite at all, or no project table
            raise NotAProject(f"{store.db_path} is not a Debias Studio project: {exc}") from exc
        if not fmt or fmt[0]["value"] != FORMAT:
            raise NotAProject(f"{store.db_path} is an SQLite file but not a Debias Studio project")
        MIGRATIONS.apply(store.db)
        return store

    # -- project metadata --------------------------------------------------------------------
    def meta(self) -> dict:
        rows = self.query("select key, value from project")
        return {
            r["key"]: (r["value"] if r["key"] in ("format", "created_at") else loads(r["value"]))
            for r in rows
        }

    def set_meta(self, **values) -> None:
        with self.write() as db:
            db["project"].insert_all(
                [{"key": k, "value": dumps(v)} for k, v in values.items()], replace=True
            )

    @property
    def class_names(self) -> list[str]:
        return self.meta().get("class_names", [])

    @property
    def attr_names(self) -> list[str]:
        return self.meta().get("attr_names", [])
