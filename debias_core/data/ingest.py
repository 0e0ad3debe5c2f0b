"""Create a project from a dataset: validate and read it, then copy it into a new store."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from debias_core.store import Store

Progress = Callable[[float, str], None]


def create_project(
    project_dir: Path,
    dataset: str,
    root: Path | None = None,
    options: dict | None = None,
    progress: Progress | None = None,
) -> Store:
    """Import `dataset` (a registered adapter name) into a new project at `project_dir`.

    The adapter validates every row and image before anything is written, so a bad dataset
    leaves no project behind. The embedded dataset is rendered to a temporary folder first.
    """
    from debias_core.data import load_dataset

    project_dir = Path(project_dir)
    if (project_dir / "project.db").exists():
        raise FileExistsError(f"a project already exists at {project_dir}")
    options = dict(options or {})
    say = progress or (lambda f, m: None)
    with tempfile.TemporaryDirectory(prefix="debias-render-") as tmp:
        source = Path(tmp) if root is None else Path(root)
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
        created_dir = not project_dir.exists()
        try:
            store = Store.create(project_dir, meta)
            store.add_real_samples(imported.records, progress=lambda f, m: say(0.3 + 0.7 * f, m))
        except BaseException:
            # Nothing half-imported: remove what this call created.
            if created_dir:
                shutil.rmtree(project_dir, ignore_errors=True)
            else:
                (project_dir / "project.db").unlink(missing_ok=True)
            raise
    store.set_meta(aligned_attrs={str(y): a for y, a in store.aligned_attrs().items()})
    say(1.0, f"project ready: {len(imported.records)} samples")
    return store
