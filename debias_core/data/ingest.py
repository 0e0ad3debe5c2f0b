"""Create a project from a dataset, atomically: a complete project appears, or nothing does.

The project is built in a hidden sibling folder (`.NAME.partial-PID`, on the same filesystem)
and renamed into place only when complete, so a crash, a SIGKILL or a full disk at any moment
leaves either no project or the previous state (an empty folder stays an empty folder). A
half-built sibling left by a killed process is removed by the next `init` of the same folder.

An empty folder that cannot be replaced by a rename (a mount point such as a Docker volume) is
filled in place instead: the project is built in a hidden folder inside it, its folders are
moved in, and `project.db` comes last, in one rename, so the project still appears complete or
not at all; a marker file says a fill is under way, and a killed fill is cleared by the next
`init` (the folder was empty when it began).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

from debias_core.process import ProcessId
from debias_core.store import DB_NAME, NotAProject, Store
from debias_core.store.project import check_project_file

Progress = Callable[[float, str], None]
BUILDING = ".building"  # marker inside a partial folder: the ProcessId of its builder
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
UNREPLACEABLE = (errno.EBUSY, errno.EXDEV)  # rename onto a mount point, or across filesystems


class DiskFull(OSError):
    """The project could not be written for lack of space; nothing was left behind."""


def create_project(
    project_dir: Path,
    dataset: str,
    root: Path | None = None,
    options: dict | None = None,
    progress: Progress | None = None,
) -> Store:
    """Import `dataset` (a registered adapter name) into a new project at `project_dir`.

    The adapter validates every row and image before anything is written. `project_dir` must
    not exist yet, or be an empty folder.
    """
    target = Path(project_dir)
    remove_stale_fill(target)
    check_target(target)
    remove_stale_partials(target)
    inside = target.is_dir() and os.path.ismount(target)  # rename cannot replace a mount point
    partial = target.parent / f".{target.name}.partial-{os.getpid()}"
    if inside:
        partial = target / f".partial-{os.getpid()}"
        (target / BUILDING).write_text(ProcessId.current().to_text())
    made_parents = _make_parents(target.parent)
    say = progress or (lambda f, m: None)
    try:
        partial.mkdir()
        (partial / BUILDING).write_text(ProcessId.current().to_text())
        _build(partial, dataset, root, dict(options or {}), say)
        (partial / BUILDING).unlink()
        if inside:
            _fill_in_place(partial, target)
        else:
            _move_into_place(partial, target)
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        _undo_fill(target)
        for folder in made_parents:  # only the empty folders this call made
            with contextlib.suppress(OSError):
                folder.rmdir()
        if is_disk_full(exc):
            raise DiskFull(
                errno.ENOSPC,
                f"no space left to create the project ({_reason(exc)}); nothing was written",
                str(target),
            ) from None
        raise
    store = Store.open(target)
    say(1.0, f"project ready: {store.count_samples()} samples")
    return store


def check_target(target: Path) -> None:
    """Refuse a target that is a file, a project, or a folder with anything in it."""
    if (target / DB_NAME).exists():
        check_project_file(target / DB_NAME)  # NotAProject: a foreign project.db is not ours
        raise FileExistsError(errno.EEXIST, "a project already exists there", str(target))
    if target.is_file() or (target.exists() and not target.is_dir()):
        raise NotAProject(f"{target} is a file; give the path of a new or empty folder")
    if target.is_dir() and any(target.iterdir()):
        raise NotAProject(f"{target} is not empty and holds no project; give a new or empty folder")


def remove_stale_partials(target: Path) -> None:
    """Delete half-built siblings whose builder is gone; refuse if one is still building."""
    if not target.parent.is_dir():
        return
    for partial in target.parent.glob(f".{target.name}.partial-*"):
        refuse_if_still_building(partial / BUILDING, target)
        shutil.rmtree(partial, ignore_errors=True)


def refuse_if_still_building(marker: Path, target: Path) -> None:
    """A FileExistsError when the init process named in `marker` is still running."""
    owner = ProcessId.from_text(_read(marker))
    if owner is not None and owner.state() != "gone":
        raise FileExistsError(
            errno.EEXIST,
            f"another init is building this project ({owner.describe()}); wait for it",
            str(target),
        )


def _build(folder: Path, dataset: str, root: Path | None, options: dict, say: Progress) -> None:
    from debias_core.data import load_dataset

    # The embedded dataset renders into the partial folder too: a kill leaves no stray files.
    source = folder / ".render" if root is None else Path(root)
    say(0.0, f"reading dataset {dataset}")
    imported = load_dataset(dataset, source, **options)
    say(0.3, f"validated {len(imported.records)} samples; copying into the project")
    meta = {
        "dataset": imported.name,
        "class_names": imported.class_names,
        "attr_names": imported.attr_names,
        "dataset_params": imported.params | options,
        "dataset_root": None if root is None else str(Path(root).resolve()),
    }
    store = Store.create(folder, meta)
    try:
        if imported.label_names:
            store.set_label_names(imported.label_names)
        store.add_real_samples(imported.records, progress=lambda f, m: say(0.3 + 0.69 * f, m))
        store.set_meta(aligned_attrs={str(y): a for y, a in store.aligned_attrs().items()})
    finally:
        store.close()  # the last connection closing checkpoints the WAL into project.db
    shutil.rmtree(folder / ".render", ignore_errors=True)


def _move_into_place(partial: Path, target: Path) -> None:
    """rename(2) is atomic, and replaces an empty target folder in the same step; an empty folder
    it cannot replace (EBUSY: a mount point) is filled in place instead."""
    try:
        os.rename(partial, target)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise FileExistsError(
                errno.EEXIST, "the folder filled up while the project was built", str(target)
            ) from None
        if exc.errno not in UNREPLACEABLE or not target.is_dir() or any(target.iterdir()):
            raise
        (target / BUILDING).write_text(ProcessId.current().to_text())
        _fill_in_place(partial, target)


def _fill_in_place(partial: Path, target: Path) -> None:
    """Move a built project into the empty folder `target`, `project.db` last (one rename).

    `target / BUILDING` is already written: until project.db lands, the folder is a fill under
    way that `_undo_fill` or the next init's `remove_stale_fill` empties again.
    """
    for entry in sorted(partial.iterdir()):
        if entry.name != DB_NAME:
            shutil.move(entry, target / entry.name)  # a rename; a copy across filesystems
    incoming = target / f".{DB_NAME}.incoming"
    shutil.move(partial / DB_NAME, incoming)
    os.replace(incoming, target / DB_NAME)  # the project appears here, complete
    (target / BUILDING).unlink()
    shutil.rmtree(partial, ignore_errors=True)


def _undo_fill(target: Path) -> None:
    """Empty a folder whose in-place fill did not finish (it was empty when the fill began)."""
    if not (target / BUILDING).is_file() or (target / DB_NAME).exists():
        return
    for entry in target.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()


def remove_stale_fill(target: Path) -> None:
    """Clear what a killed in-place fill left in `target`; refuse if its builder still runs."""
    if not (target / BUILDING).is_file() or (target / DB_NAME).exists():
        return
    refuse_if_still_building(target / BUILDING, target)
    _undo_fill(target)


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in DISK_FULL:
        return True
    return isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc)


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _make_parents(folder: Path) -> list[Path]:
    """mkdir -p, returning the folders it made (deepest first) so a failure can remove them."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for made in reversed(missing):
        made.mkdir()
    return missing


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None
