"""The project store: one SQLite file (WAL) plus content-addressed files in one folder.

Every read and write of project state goes through `Store`. Writes run in `store.write()`, a
`BEGIN IMMEDIATE` transaction: taking the write lock up front means two writers queue on the busy
timeout instead of failing with a lock-upgrade deadlock, which a deferred BEGIN can hit.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from debias_core import __version__
from debias_core.store.artifacts import ArtifactsMixin
from debias_core.store.curation import CurationMixin
from debias_core.store.embeddings import EmbeddingsMixin
from debias_core.store.jobs import JobsMixin
from debias_core.store.label_sets import LabelSetsMixin
from debias_core.store.labels import LabelsMixin
from debias_core.store.mask_coverage import MaskCoverageMixin
from debias_core.store.multilabel import MultiLabelMixin
from debias_core.store.ownership import JobOwnershipMixin
from debias_core.store.paths import PathsMixin
from debias_core.store.records import dumps, loads, now
from debias_core.store.report import ReportMixin
from debias_core.store.review import ReviewMixin
from debias_core.store.samples import SamplesMixin
from debias_core.store.schema import FORMAT, MIGRATIONS
from debias_core.store.tags import TagsMixin
from debias_core.store.unlabelled import UnlabelledMixin
from debias_core.store.verify import VerifyMixin
from debias_core.store.views import ViewsMixin

DB_NAME = "project.db"
SQLITE_MAGIC = b"SQLite format 3\x00"


class NotAProject(ValueError):
    """The folder or file is not a Debias Studio project."""


class NewerProject(ValueError):
    """The project was written by a newer Debias Studio (a schema change this code lacks)."""


def known_schema() -> list[str]:
    return [m.name for m in MIGRATIONS._migrations]


# Database files this process holds connections to, by (device, inode). POSIX releases every
# fcntl lock a process holds on a file when any of its descriptors of that file is closed, so
# reading the header of such a file with open() / close() would silently drop this process's
# SQLite locks: another process closing its own connection would then take itself for the last
# one and delete the -wal and -shm files under us (later writes: "disk I/O error").
_CONNECTED: set[tuple[int, int]] = set()


def _file_key(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def check_project_file(db_path: Path) -> None:
    """Refuse, without writing anything, a file that is not a project this code can open.

    Read before any connection that could write: an empty or foreign file must not gain -wal /
    -shm files or a changed journal mode just because someone pointed the app at it. A file
    this process already has open is checked through SQLite only (see `_CONNECTED`).
    """
    if _file_key(db_path) not in _CONNECTED:
        check_sqlite_header(db_path)
    info = _read_only_info(db_path)
    if info["format"] != FORMAT:
        raise NotAProject(f"{db_path} is an SQLite file but not a Debias Studio project")
    unknown = [name for name in info["applied"] if name not in known_schema()]
    if unknown:
        theirs = f"Debias Studio {info['version']}" if info["version"] else "a newer Debias Studio"
        raise NewerProject(
            f"{db_path.parent} was written by {theirs} (schema {unknown[-1]}); this is Debias "
            f"Studio {__version__} (schema up to {known_schema()[-1]}): update it to open this "
            "project"
        )


def check_sqlite_header(db_path: Path) -> None:
    try:
        with open(db_path, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise NotAProject(f"{db_path} cannot be read: {exc.strerror}") from None
    if not head.startswith(SQLITE_MAGIC):
        what = "an empty file" if not head else "not an SQLite file"
        raise NotAProject(f"{db_path} is not a Debias Studio project ({what})")


def _read_only_info(db_path: Path) -> dict:
    """The format marker, applied migrations and writer version, through a read-only handle."""
    # Without a -wal file no process has the database open in WAL mode, so `immutable` is safe
    # and makes SQLite create no -wal / -shm files next to a foreign database.
    wal = db_path.with_name(db_path.name + "-wal").exists()
    uri = db_path.resolve().as_uri() + ("?mode=ro" if wal else "?mode=ro&immutable=1")
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise NotAProject(f"{db_path} cannot be opened: {exc}") from None
    try:
        rows = dict(
            conn.execute(
                "select key, value from project where key in (?, ?)", ["format", "software_version"]
            ).fetchall()
        )
        tables = {r[0] for r in conn.execute("select name from sqlite_master")}
        applied = []
        if "_sqlite_migrations" in tables:
            applied = [
                r[0]
                for r in conn.execute(
                    "select name from _sqlite_migrations where migration_set = ? order by id",
                    [MIGRATIONS.name],
                )
            ]
    except sqlite3.DatabaseError as exc:  # not SQLite at all, or no project table
        raise NotAProject(f"{db_path} is not a Debias Studio project: {exc}") from None
    finally:
        conn.close()
    version = loads(rows.get("software_version")) if rows.get("software_version") else None
    return {"format": rows.get("format"), "applied": applied, "version": version}


class Store(
    SamplesMixin,
    LabelsMixin,
    CurationMixin,
    JobsMixin,
    JobOwnershipMixin,
    ArtifactsMixin,
    EmbeddingsMixin,
    VerifyMixin,
    MaskCoverageMixin,
    MultiLabelMixin,
    UnlabelledMixin,
    TagsMixin,
    ViewsMixin,
    ReviewMixin,
    LabelSetsMixin,
    ReportMixin,
    PathsMixin,
):
    """A project: open with `Store.open(dir)`, make with `Store.create(dir, ...)`."""

    def __init__(self, root: Path) -> None:
        # Absolute, so what it resolves does not change with the working directory.
        self.root = Path(root).absolute()
        self.db_path = self.root / DB_NAME
        self._local = threading.local()

    # -- connections -------------------------------------------------------------------------
    @property
    def db(self) -> Database:
        """A connection per thread: sqlite3 connections must not be shared across threads."""
        db = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(self.db_path, timeout=30, check_same_thread=False)
            _CONNECTED.add(_file_key(self.db_path))
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
            rows += [{"key": "software_version", "value": dumps(__version__)}]
            db["project"].insert_all(rows, replace=True)
        return store

    @classmethod
    def open(cls, root: Path) -> Store:
        """Open a project, migrating an older schema; say so clearly if it is not a project."""
        root = Path(root)
        if root.is_file():
            if root.name != DB_NAME:
                raise NotAProject(f"{root} is a file, not a Debias Studio project folder")
            root = root.parent
        if not (root / DB_NAME).is_file():
            raise NotAProject(f"{root} is not a Debias Studio project (no {DB_NAME} in it)")
        check_project_file(root / DB_NAME)  # read-only: nothing is written to a foreign file
        store = cls(root)
        if MIGRATIONS.pending(store.db):
            MIGRATIONS.apply(store.db)
            store.set_meta(software_version=__version__)
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
