"""Defaults per backbone family: the papers' values at Stable Diffusion scale, the demo's elsewhere.

A parameter field may name its paper's value in its metadata (`field(default=demo, metadata=
{"paper": value})`). The demo values are tuned for the tiny `embedded` model; on a Stable
Diffusion checkpoint the paper's value becomes the default, so a user who switches to SD-2 gets
the paper's recipe without knowing the difference. A value the user gives always wins, and the
job's stored parameters name every value used. A paper value that is a description (a string
where the field is a number) is only listed by `methods`, never applied.
"""

from __future__ import annotations

import dataclasses
from typing import Any

SD_SPECS = ("sd2", "sd2-1", "sd2-inpainting")


def backbone_family(spec: str) -> str:
    """`sd` for Stable Diffusion checkpoints (the registered specs, or a hub id / folder whose
    name says stable-diffusion), `embedded` for anything else (the demo's defaults)."""
    return "sd" if spec in SD_SPECS or "stable-diffusion" in str(spec).lower() else "embedded"


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else None


def paper_values(cls: type) -> dict[str, Any]:
    """{field: the paper's value} for the fields whose paper value has the default's type."""
    out = {}
    for f in dataclasses.fields(cls):
        if "paper" in f.metadata and type(f.metadata["paper"]) is type(_default(f)):
            out[f.name] = f.metadata["paper"]
    return out


def family_defaults(cls: type, backbone: str) -> dict[str, Any]:
    """The values to default to on this backbone: the paper's on SD, none (the demo's) else."""
    return paper_values(cls) if backbone_family(backbone) == "sd" else {}


def with_family_defaults(cls: type, params: dict, backbone: str) -> dict:
    """`params` with the family's defaults filled in under the values given."""
    return family_defaults(cls, backbone) | dict(params)
