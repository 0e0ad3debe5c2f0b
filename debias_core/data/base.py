"""The canonical sample record every dataset adapter produces, and the adapter Protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from debias_core.registry import Registry
from debias_core.store.labels import LabelName

SPLITS = ("train", "val", "test")


class DatasetError(ValueError):
    """Bad dataset input. The message names the file (and row) at fault."""


class ObjectMask(Protocol):
    """The mask of one named region of an image (a COCO category; the multi-label demo's object,
    context or background), decoded on demand.

    Decoding waits until the store copies the sample, so a dataset of a million regions is never
    held as pixels; an adapter checks the encoding before it returns its records, so `pixels`
    cannot fail on a record it returned.
    """

    label: int | None  # the region's label in the project's label space; None: the background
    name: str  # what the region is (a label name, or "background"): the mask's label / prompt

    def pixels(self) -> np.ndarray:
        """(H, W) bool, the image's size."""
        ...

    def params(self) -> dict[str, Any]:
        """What to record with the mask (e.g. the annotation ids it unites)."""
        ...


@dataclass(frozen=True)
class MaskFile:
    """An ObjectMask an adapter has already drawn as a black / white image file."""

    name: str
    path: Path
    label: int | None = None

    def pixels(self) -> np.ndarray:
        from PIL import Image

        with Image.open(self.path) as im:
            return np.asarray(im.convert("L")) > 127

    def params(self) -> dict[str, Any]:
        return {}


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
    # exact masks of named regions (COCO-Stuff's categories; the multi-label demo's object,
    # context and background)
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
    labels: tuple[LabelName, ...] = ()  # the multi-label space, where `records` carry labels


class DatasetAdapter(Protocol):
    """Reads one on-disk dataset format into canonical records, validating everything first."""

    def __call__(self, root: Path, **options: Any) -> DatasetImport: ...


DATASETS: Registry[DatasetAdapter] = Registry("dataset")
