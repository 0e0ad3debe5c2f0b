"""Bounds on the size of a job, checked before it is queued.

The defaults are generous for a GPU (a 1,000-step, 100,000-images-per-group request is allowed)
and still refuse a typo such as 10^9 images before anything is planned. Override them per command
(`generate --max-per-group N`, ...) or for every command and the app with the environment
variable DEBIAS_STUDIO_LIMITS, e.g. ``DEBIAS_STUDIO_LIMITS="per_group=500000,steps=2000"``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace

LIMITS_ENV = "DEBIAS_STUDIO_LIMITS"
FLAGS = {
    "per_group": "--max-per-group",
    "groups": "--max-groups",
    "steps": "--max-steps",
    "batch_size": "--max-batch-size",
}
MAX_SEED = 2**32 - 1  # seeds are 32-bit everywhere (torch, NumPy, the recipes)
MAX_RANK = 1024  # LoRA rank: above a layer's width it adds nothing but memory
MAX_EPOCHS = 10_000  # classifier training epochs


@dataclass(frozen=True)
class JobLimits:
    """Largest accepted values; a job asking for more is refused with the limit named."""

    per_group: int = 100_000  # images per group in one generation job
    groups: int = 1_000  # target groups in one job
    steps: int = 1_000  # denoising steps per image
    batch_size: int = 256  # images rendered together in one work unit

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"limit {f.name} must be a positive integer, got {value!r}")

    @classmethod
    def from_env(cls, environ: dict | None = None) -> JobLimits:
        """The defaults, with overrides from DEBIAS_STUDIO_LIMITS ("name=value,...")."""
        text = (os.environ if environ is None else environ).get(LIMITS_ENV, "").strip()
        values: dict[str, int] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, value = item.partition("=")
            name = name.strip()
            if not sep or name not in FLAGS or not value.strip().isdigit():
                raise ValueError(
                    f"{LIMITS_ENV}: expected name=integer items with names {list(FLAGS)}, "
                    f"got {item!r}"
                )
            values[name] = int(value)
        return cls(**values)

    def with_overrides(self, **values: int | None) -> JobLimits:
        """A copy with the given limits replaced (None keeps the current one)."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    def check(self, name: str, value: int, what: str) -> None:
        """Refuse `value` above the limit `name`, saying how to raise it."""
        limit = getattr(self, name)
        if value > limit:
            raise ValueError(
                f"{what} {value} is over the limit of {limit}; raise it with "
                f"{LIMITS_ENV}={name}=N (or generate's {FLAGS[name]}) if you mean it"
            )


# -- curation CSV import (checked while reading: a file is read as a stream, never whole) -------
MAX_CURATION_BYTES = 256 * 1024 * 1024  # 256 MiB: a million rows with long reasons fit
MAX_CURATION_LINE = 131_072  # characters in one line, and in one field (csv's own field limit)
