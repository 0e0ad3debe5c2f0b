"""Row dataclasses the store reads and writes (the rest of the core never sees SQL)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def loads(text: str | None, default: Any = None) -> Any:
    return default if text in (None, "") else json.loads(text)


@dataclass(frozen=True)
class Sample:
    id: int
    path: str
    sha256: str
    y: int
    a: int
    split: str
    source: str
    parent_id: int | None = None
    recipe_id: int | None = None
    job_id: int | None = None
    meta: dict = field(default_factory=dict)
    created_at: str = ""

    @classmethod
    def from_row(cls, row: dict) -> Sample:
        keys = {k: row.get(k) for k in cls.__dataclass_fields__ if k != "meta"}
        return cls(**keys, meta=loads(row.get("meta"), {}))


@dataclass(frozen=True)
class Recipe:
    """Everything needed to regenerate one image: bit-exact on the same machine kind (`machine`:
    device, processor, instruction set, torch version, threads; see generate/machine.py) and
    backbone, within a small stated bound elsewhere. Old recipes have an empty `machine`."""

    method: str
    backbone_id: str
    backbone_hash: str
    seed: int
    prompt: str = ""
    negative_prompt: str = ""
    source_ids: tuple[int, ...] = ()
    tokens: dict = field(default_factory=dict)
    adapters: dict = field(default_factory=dict)
    mask_id: int | None = None
    scheduler: str = "DDIMScheduler"
    steps: int = 20
    guidance: float = 5.0
    params: dict = field(default_factory=dict)
    machine: dict = field(default_factory=dict)
    id: int | None = None

    def to_row(self) -> dict:
        row = asdict(self)
        row.pop("id")
        for key in ("source_ids", "tokens", "adapters", "params", "machine"):
            row[key] = dumps(list(row[key]) if key == "source_ids" else row[key])
        return row

    @classmethod
    def from_row(cls, row: dict) -> Recipe:
        values = {k: row.get(k) for k in cls.__dataclass_fields__}
        values["source_ids"] = tuple(loads(row.get("source_ids"), []))
        for key in ("tokens", "adapters", "params", "machine"):
            values[key] = loads(row.get(key), {})
        return cls(**values)


@dataclass(frozen=True)
class GeneratedImage:
    """One image a generator produced, with the group it was made for and its recipe."""

    image: Any  # uint8 HxWx3 array or PIL image
    y: int
    a: int | None  # None only from a method without group labels, before the runner fills it
    recipe: Recipe
    parent_id: int | None = None
    meta: dict = field(default_factory=dict)
    labels: tuple[int, ...] = ()  # multi-label projects: the labels the image was drawn to show


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    params: dict
    status: str
    progress: float
    message: str
    error: str
    units_done: int
    units_total: int
    cancel_requested: bool
    pid: int | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    heartbeat_at: str | None = None
    result: dict = field(default_factory=dict)
    owner: str | None = None  # JSON ProcessId of the process running it (see debias_core.process)
    config_key: str | None = None  # same kind + same params -> same key

    @classmethod
    def from_row(cls, row: dict) -> Job:
        values = {k: row.get(k) for k in cls.__dataclass_fields__}
        values["params"] = loads(row.get("params"), {})
        values["result"] = loads(row.get("result"), {})
        values["cancel_requested"] = bool(row.get("cancel_requested"))
        values["message"] = row.get("message") or ""
        values["error"] = row.get("error") or ""
        return cls(**values)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed", "cancelled")


@dataclass(frozen=True)
class Run:
    id: int
    kind: str
    method: str
    config: dict
    status: str
    metrics: dict
    synthetic_ids: list
    dir: str
    job_id: int | None
    created_at: str
    finished_at: str | None

    @classmethod
    def from_row(cls, row: dict) -> Run:
        values = {k: row.get(k) for k in cls.__dataclass_fields__}
        values["config"] = loads(row.get("config"), {})
        values["metrics"] = loads(row.get("metrics"), {})
        values["synthetic_ids"] = loads(row.get("synthetic_ids"), [])
        return cls(**values)
