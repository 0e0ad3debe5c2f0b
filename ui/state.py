"""The per-process app context: the open project, its job executor and who is reviewing.

One context per server process; per-browser data (the review queue) lives in `gr.State`. The
current selection is kept here per reviewer, so a selection made in one tab (the Embeddings
lasso) can be the target of another (Personalize); it lasts as long as the server process.
"""

from __future__ import annotations

import getpass
import sys
from dataclasses import dataclass, field
from pathlib import Path

from debias_core.jobs import Executor, ExecutorChoice, make_executor
from debias_core.store import DB_NAME, NotAProject, Store

DEMO_DATASET = "colored-digits"
# the embedded demos an empty project folder can be filled with (`--demo`)
DEMO_DATASETS = ("colored-digits", "colored-digits-multilabel")


@dataclass
class AppContext:
    store: Store
    executor: Executor  # the one new jobs and resumes go to (see `choose_executor`)
    device: str = "cpu"
    reviewer: str = "local"
    exemplars: dict = field(default_factory=dict)  # (y, a) -> a real sample id, cached
    # reviewer -> the sample ids last selected in a grid (the Embeddings lasso), for other tabs
    selections: dict[str, tuple[int, ...]] = field(default_factory=dict)
    _aligned: dict | None = None
    # every executor this app started, by label (jobs keep running on one after a switch)
    _executors: dict[str, Executor] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.store.root

    def aligned_attrs(self) -> dict[int, int]:
        """Each class's majority context; real samples do not change while the app runs."""
        if self._aligned is None:
            self._aligned = self.store.aligned_attrs()
        return self._aligned

    def remember_selection(self, reviewer: str, ids) -> None:
        """The samples `reviewer` has selected now (the Personalize tab can target them)."""
        self.selections[reviewer] = tuple(int(i) for i in ids)

    def selection_of(self, reviewer: str) -> tuple[int, ...]:
        return self.selections.get(reviewer, ())

    def choose_executor(self, name: str, address: str | None = None) -> Executor:
        """Launch and resume jobs on `name` ("local" / "ray", at `address`) from now on, for the
        whole app; the choice is checked (Ray installed) before it counts."""
        choice = ExecutorChoice(name, address).check()
        self._executors.setdefault(self.executor.label, self.executor)
        if choice.label not in self._executors:
            self._executors[choice.label] = make_executor(choice, self.store, self.device)
        self.executor = self._executors[choice.label]
        return self.executor

    def shutdown(self) -> list[int]:
        """Mark this process's queued / running jobs interrupted, on every executor it used."""
        executors = {id(e): e for e in [self.executor, *self._executors.values()]}
        return [j for e in executors.values() for j in e.shutdown()]

    def reviewer_for(self, request=None) -> str:
        """The logged-in user when the app runs with --auth, else the configured name."""
        return getattr(request, "username", None) or self.reviewer


def _print_progress(fraction: float, message: str) -> None:
    print(f"  [{fraction:6.1%}] {message}", file=sys.stderr, flush=True)


def open_or_create(project: Path, progress=_print_progress, demo: str = DEMO_DATASET) -> Store:
    """Open the project; create the embedded demo `demo` there first if the folder has none."""
    project = Path(project)
    if (project / DB_NAME).is_file():
        return Store.open(project)
    if project.exists() and (not project.is_dir() or any(project.iterdir())):
        raise NotAProject(
            f"{project} is not a Debias Studio project (no {DB_NAME}) and is not empty; "
            "pass a project folder, or a new or empty folder for the demo"
        )
    from debias_core.data.ingest import create_project

    if demo not in DEMO_DATASETS:
        raise ValueError(f"demo must be one of {list(DEMO_DATASETS)}, got {demo!r}")
    print(f"No project at {project}: creating the {demo} demo there", file=sys.stderr)
    store = create_project(project, demo, progress=progress)
    progress(1.0, f"demo project ready: {store.count_samples()} images")
    return store


def make_context(
    project: Path,
    device: str = "cpu",
    reviewer: str | None = None,
    create: bool = True,
    executor: ExecutorChoice | None = None,
    demo: str = DEMO_DATASET,
) -> AppContext:
    """Open (or create) the project and start its executor (`executor`: local by default).

    Starting the executor marks jobs left running by a dead process as interrupted, so the jobs
    table offers to resume them.
    """
    store = open_or_create(project, demo=demo) if create else Store.open(project)
    runner = make_executor(executor or ExecutorChoice(), store, device)
    return AppContext(store, runner, device, reviewer or getpass.getuser() or "local")
