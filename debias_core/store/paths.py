"""Paths the store holds: relative to the project folder, resolved against it on read.

Every file a row names (a sample's image, a mask, a learned artifact, a training run's folder)
lies inside the project, and the row stores its path relative to the project folder. So a copied
or moved project works from any working directory, and a copy never reads the original's files.
A row whose path is absolute or climbs out with `..` (an old project, or a hand-edited database)
is refused when read, naming the row, instead of reading a file elsewhere on the machine.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

RUNS_DIR = "runs"


class OutsideProject(ValueError):
    """A stored path that does not lie inside the project folder."""


def is_inside(stored: str) -> bool:
    """True for a non-empty relative path that never climbs out of its folder (lexically)."""
    parts = PurePosixPath(str(stored).replace("\\", "/")).parts
    return bool(parts) and not PurePosixPath(str(stored)).is_absolute() and ".." not in parts


def relocate(stored: str, top: str, root: Path) -> str:
    """The project-relative form of a path an older version stored (a migration's rewrite).

    Absolute paths under `root` become relative; a path relative to some other folder (the
    working directory `train` ran in, or the original of a copied project) keeps its part from
    the last `top` folder on (`runs/0001`, `files/ab/...`), which is where this project keeps it.
    Anything else is left as it is, and refused when read.
    """
    if is_inside(stored) and PurePosixPath(stored).parts[0] == top:
        return stored
    path = Path(stored)
    if path.is_absolute():
        try:
            relative = path.relative_to(root).as_posix()
        except ValueError:
            relative = ""
        if relative and is_inside(relative):
            return relative
    parts = PurePosixPath(str(stored).replace("\\", "/")).parts
    if top in parts:
        tail = parts[len(parts) - 1 - parts[::-1].index(top) :]
        if ".." not in tail:
            return PurePosixPath(*tail).as_posix()
    return stored


class PathsMixin:
    root: Path

    def resolve(self, stored: str, what: str) -> Path:
        """The file a row names, inside this project; OutsideProject if it points elsewhere."""
        if not stored or not is_inside(stored):
            raise OutsideProject(
                f"{what} has the path {stored!r}, which is not inside the project folder "
                f"{self.root}; the store only reads files inside its project"
            )
        return self.root / stored

    def relative(self, path: Path | str) -> str:
        """How the store records a file of this project: its path relative to the project."""
        try:
            relative = Path(path).absolute().relative_to(self.root).as_posix()
        except ValueError:
            relative = ""
        if not is_inside(relative):
            raise OutsideProject(f"{path} is not inside the project folder {self.root}")
        return relative

    def run_dir(self, run) -> Path:
        """A training run's folder, from its row (`runs/<id>` while it has none recorded)."""
        if not run.dir:
            return self.root / RUNS_DIR / f"{int(run.id):04d}"
        return self.resolve(run.dir, f"run {run.id}")
