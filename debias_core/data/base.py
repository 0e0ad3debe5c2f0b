"""The canonical sample record every dataset adapter produces, and the adapter Protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from debias_core.registry import Registry

SPLITS = ("train", "val", "test")


class DatasetError(ValueError):
    """Bad dataset input. The message names the file (and row) at fault."""


@dataclass(frozen=True)
class ObjectMask:
    """An exact mask of one named region of an image (an object, a context, the background).

    `name` is what the region is (a label name, or "background"); `label` its index in the
    dataset's label space, None for a region that is no label (the background).
    """

    name: str
    path: Path
    label: int | None = None


@dataclass(frozen=True)
class SampleRecord:
    """One real sample as an adapter sees it, before it enters the store.

    `path` is absolute and already checked to exist inside the dataset root. `y` is the class,
    `a` the spurious attribute (context); both are small non-negative ints. `labels` holds a
    multi-label set (COCO-Stuff style) and is empty for single-label data.
    """

    path: Path
    y: int
    a: int
    split: str
    meta: dict[str, Any] = field(default_factory=dict)
    labels: tuple[int, ...] = ()
    mask_path: Path | None = None  # an exact foreground mask, where the dataset has one
    # exact masks of named regions (multi-label data: each object, context and the background)
    object_masks: tuple[ObjectMask, ...] = ()


@dataclass(frozen=True)
class DatasetImport:
    """What an adapter returns: the records and the human names of classes and attributes."""

    name: str
    records: list[SampleRecord]
    class_names: list[str]
    attr_names: list[str]
    root: Path
    params: dict[str, Any] = field(default_factory=dict)
    # multi-label data: the name of each label (index = label); empty for single-label data
    label_names: list[str] = field(default_factory=list)


class DatasetAdapter(Protocol):
    """Reads one on-disk dataset format into canonical records, validating everything first."""

    def __call__(self, root: Path, **options: Any) -> DatasetImport: ...


DATASETS: Registry[DatasetAdapter] = Registry("dataset")
