"""Dataset adapters: each reads one on-disk format into canonical `SampleRecord`s.

Importing this package fills the `DATASETS` registry (the adapter modules register themselves);
it loads no data and imports no torch.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from debias_core.data import (  # noqa: F401  (imported to register the adapters)
    celeba,
    colored_digits,
    colored_digits_multilabel,
    folder_csv,
    metadata_csv,
    metashift,
    waterbirds,
)
from debias_core.data.base import (
    DATASETS,
    SPLITS,
    DatasetAdapter,
    DatasetError,
    DatasetImport,
    SampleRecord,
)
from debias_core.data.options import check_options

__all__ = [
    "DATASETS",
    "SPLITS",
    "DatasetAdapter",
    "DatasetError",
    "DatasetImport",
    "SampleRecord",
    "load_dataset",
]


def load_dataset(name: str, root: Path | str, **options: Any) -> DatasetImport:
    """Run the adapter `name` on `root`; unknown name -> ValueError, bad option -> DatasetError."""
    adapter = DATASETS.get(name)
    signature = inspect.signature(adapter)
    try:
        signature.bind(Path(root), **options)
    except TypeError as exc:
        valid = [p for p in list(signature.parameters)[1:] if p != "options"]
        raise DatasetError(f"dataset {name!r}: {exc}; valid options: {valid}") from None
    check_options(name, adapter, options)
    try:
        return adapter(Path(root), **options)
    except TypeError as exc:
        # Adapters taking **options (colored-digits) only find unknown names inside the call.
        if "unexpected keyword argument" not in str(exc):
            raise
        raise DatasetError(f"dataset {name!r}: {exc}") from None
