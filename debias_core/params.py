"""Method parameters: a frozen dataclass per method (generators, scorers, policies, segmenters).

The CLI (`--param key=value`) and the app build from the same dataclass fields, so a new method
needs no CLI or UI edit. Values are coerced by the field's annotated type (int, float, bool, str,
and `X | None`); an unknown key or a bad value is a short ValueError naming the valid keys.

Bounds are declared once, next to the field, in its metadata (and shown by `methods --json`):
- "range": (low, high), inclusive, None for an open end: `check_values` refuses a number outside
  it, and refuses every NaN or infinite float whether or not a range is declared;
- "limit": the `limits.JobLimits` name ("steps", "per_group", "groups", "batch_size") a size-like
  integer is held to; `check_limits` applies it before a job is queued.
Both run on every parameter dataclass the CLI and the app build (`build_params`, the job configs).
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def parse_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """['gamma=0.5', 'k=10'] -> {'gamma': '0.5', 'k': '10'}."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param needs key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def _base_types(annotation: Any) -> tuple[type, ...]:
    """The concrete types an annotation allows (`int | None` -> (int, NoneType))."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return typing.get_args(annotation)
    return (annotation,)


def _coerce_one(name: str, kind: type, value: Any) -> Any:
    if kind is bool:
        text = str(value).lower()
        if isinstance(value, bool) or text in _TRUE | _FALSE:
            return value if isinstance(value, bool) else text in _TRUE
        raise ValueError(f"parameter {name} must be true or false, got {value!r}")
    if kind in (int, float):
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"parameter {name} must be {kind.__name__}, got {value!r}") from None
        if kind is int and isinstance(value, float) and value != number:
            raise ValueError(f"parameter {name} must be a whole number, got {value!r}")
        return number
    return str(value)


def coerce(name: str, annotation: Any, value: Any) -> Any:
    if typing.get_origin(annotation) is typing.Literal:  # one of the listed values
        allowed = typing.get_args(annotation)
        match = [v for v in allowed if str(v) == str(value)]
        if not match:
            raise ValueError(f"parameter {name} must be one of {list(allowed)}, got {value!r}")
        return match[0]
    if typing.get_origin(annotation) is dict:  # nested parameters: a dict, or JSON text
        if isinstance(value, dict):
            return value
        try:
            parsed = json.loads(value)
        except (TypeError, json.JSONDecodeError):
            parsed = None
        if not isinstance(parsed, dict):
            raise ValueError(f"parameter {name} must be a JSON object, got {value!r}")
        return parsed
    kinds = _base_types(annotation)
    if type(None) in kinds and (value is None or str(value).lower() in ("", "none", "null")):
        return None
    concrete = [k for k in kinds if k is not type(None)]
    return _coerce_one(name, concrete[0] if concrete else str, value)


def field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def build_params(defaults: Any, raw: dict[str, Any] | None, what: str = "method") -> Any:
    """`defaults` (a frozen dataclass instance) with `raw` values coerced in, then checked."""
    raw = dict(raw or {})
    types_ = field_types(type(defaults))
    unknown = sorted(set(raw) - set(types_))
    if unknown:
        valid = ", ".join(types_) or "(none)"
        raise ValueError(f"unknown {what} parameter(s) {unknown}; valid: {valid}")
    values = {k: coerce(k, types_[k], v) for k, v in raw.items()}
    for f in dataclasses.fields(defaults):
        if f.name in values:
            _check_choice(f, values[f.name])
    params = dataclasses.replace(defaults, **values)
    check_values(params)
    check = getattr(params, "check_inputs", None)
    if check is not None:
        check()
    return params


def describe(defaults: Any) -> list[dict]:
    """One row per field (name, type, default, help from field metadata) for help texts and UIs."""
    types_ = field_types(type(defaults))
    return [
        {
            "name": f.name,
            "type": types_[f.name],
            "default": getattr(defaults, f.name),
            "help": f.metadata.get("help", ""),
            **({"paper": f.metadata["paper"]} if "paper" in f.metadata else {}),
            **{k: f.metadata[k] for k in ("range", "limit") if k in f.metadata},
        }
        for f in dataclasses.fields(defaults)
    ]


# -- bounds (see the module docstring) ------------------------------------------------------------
def range_text(low: float | None, high: float | None) -> str:
    if low is None:
        return f"<= {high}"
    return f">= {low}" if high is None else f"in [{low}, {high}]"


def bounds_text(f: dataclasses.Field) -> str:
    """A field's declared bounds for a form's help text ("" if none)."""
    parts = []
    if "range" in f.metadata:
        parts.append(range_text(*f.metadata["range"]))
    if "limit" in f.metadata:
        parts.append(f"at most the {f.metadata['limit']} limit")
    return ", ".join(parts)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def bounded(
    default: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    limit: str | None = None,
    help: str = "",
    paper: Any = None,
) -> Any:
    """A dataclass field with its "range" (low..high) and / or size "limit" in the metadata, and
    the paper's value where it differs from the demo default (see paper_defaults.py)."""
    metadata: dict[str, Any] = {"help": help} if help else {}
    if paper is not None:
        metadata["paper"] = paper
    if low is not None or high is not None:
        metadata["range"] = (low, high)
    if limit is not None:
        metadata["limit"] = limit
    return dataclasses.field(default=default, metadata=metadata)


def check_template(name: str, text: str, placeholders: Iterable[str]) -> None:
    """A prompt template that only uses these {placeholders} (else a ValueError naming them)."""
    names = sorted(placeholders)
    try:
        text.format(**dict.fromkeys(names, ""))
    except (KeyError, IndexError, ValueError, AttributeError):
        shown = ", ".join("{" + n + "}" for n in names)
        raise ValueError(f"{name} {text!r} may only use the placeholders {shown}") from None


def check_values(params: Any) -> None:
    """Every float field is finite and every number inside its declared "range"."""
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        if not _number(value):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"parameter {f.name} must be a finite number, got {value}")
        low, high = f.metadata.get("range", (None, None))
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"parameter {f.name} must be {range_text(low, high)}, got {value}")


def check_limits(params: Any, limits: Any) -> None:
    """Every size-like field (metadata "limit") within its JobLimits bound (a JobLimits)."""
    for f in dataclasses.fields(params):
        value, name = getattr(params, f.name), f.metadata.get("limit")
        if name is not None and _number(value):
            limits.check(name, value, f"parameter {f.name}")


def as_dict(params: Any) -> dict:
    return dataclasses.asdict(params)


# -- forms: how the app shows each field ---------------------------------------------------------
# Field metadata a method may set (all optional): "help" (a sentence), "choices" (a Registry, a
# sequence of names, or a callable returning them: the value must be one of them), "widget"
# ("run" for the id of a trained classifier run) and "runs" (the training method(s) such a run
# must come from, e.g. "gce"). A field named `run` or ending in `_run` is a run without saying so.
WIDGETS = ("integer", "number", "text", "bool", "choice", "run", "json")


@dataclass(frozen=True)
class FieldSpec:
    """One parameter as a form shows it: which widget, its default, help and choices."""

    name: str
    widget: str  # one of WIDGETS
    default: Any
    help: str = ""
    choices: tuple[str, ...] = ()  # for "choice"
    runs: tuple[str, ...] = ()  # for "run": the training methods accepted (empty = any)
    optional: bool = False  # None is a valid value (an empty box)
    bounds: str = ""  # its declared range and / or size limit, e.g. "in [0.0, 1.0]"


def _names(choices: Any) -> tuple[str, ...]:
    if callable(getattr(choices, "names", None)):  # a Registry
        return tuple(choices.names())
    if callable(choices):
        return tuple(choices())
    return tuple(str(c) for c in choices)


def _check_choice(f: dataclasses.Field, value: Any) -> None:
    choices = f.metadata.get("choices")
    if choices is None or value is None:
        return
    valid = _names(choices)
    if str(value) not in valid:
        raise ValueError(f"parameter {f.name} must be one of {list(valid)}, got {value!r}")


def _widget(f: dataclasses.Field, annotation: Any) -> tuple[str, tuple[str, ...]]:
    """(widget, choices) of a field, from its metadata first, then its annotation."""
    if f.metadata.get("widget") == "run" or f.name == "run" or f.name.endswith("_run"):
        return "run", ()
    if typing.get_origin(annotation) is typing.Literal:
        return "choice", tuple(str(v) for v in typing.get_args(annotation))
    if f.metadata.get("choices") is not None:
        return "choice", _names(f.metadata["choices"])
    if typing.get_origin(annotation) is dict:
        return "json", ()
    kinds = [k for k in _base_types(annotation) if k is not type(None)]
    kind = kinds[0] if kinds else str
    widget = {bool: "bool", int: "integer", float: "number", str: "text"}.get(kind, "text")
    return widget, ()


def form_fields(defaults: Any) -> list[FieldSpec]:
    """The fields of a method's parameter dataclass as form fields, in declaration order."""
    types_ = field_types(type(defaults))
    out = []
    for f in dataclasses.fields(defaults):
        widget, choices = _widget(f, types_[f.name])
        runs = f.metadata.get("runs", ())
        out.append(
            FieldSpec(
                name=f.name,
                widget=widget,
                default=getattr(defaults, f.name),
                help=f.metadata.get("help", ""),
                choices=choices,
                runs=(runs,) if isinstance(runs, str) else tuple(runs),
                optional=type(None) in _base_types(types_[f.name]),
                bounds=bounds_text(f),
            )
        )
    return out


def config_from(cls: type, params: dict, what: str, drop: Iterable[str] = ()) -> Any:
    """A job's config dataclass from its params (minus `drop`, e.g. a dtype kept beside it);
    an unknown or missing field is one ValueError naming the stage, not a TypeError."""
    fields = {k: v for k, v in params.items() if k not in set(drop)}
    try:
        return cls(**fields)
    except TypeError as exc:
        raise ValueError(f"bad {what} parameters: {exc}") from None
