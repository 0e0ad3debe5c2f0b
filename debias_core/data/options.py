"""Type checks for dataset options given as JSON, against the adapter's own annotations.

`--options '{"max_pixels": "abc"}'` must be refused in one line naming the option, not fail deep
inside an adapter with a TypeError; NaN and infinities are refused for numbers, and a seed must
be >= 0 (NumPy's generators refuse negative seeds with a message that names no option).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import types
import typing
from typing import Any

from debias_core.data.base import DatasetError


def option_types(adapter) -> dict[str, Any]:
    """Option name -> annotated type: the adapter's keyword-only parameters, or the fields of
    its `options_type` dataclass for adapters that take **options."""
    config = getattr(adapter, "options_type", None)
    if config is not None:
        hints = typing.get_type_hints(config)
        return {f.name: hints[f.name] for f in dataclasses.fields(config)}
    hints = typing.get_type_hints(adapter)
    return {
        name: hints[name]
        for name, p in inspect.signature(adapter).parameters.items()
        if p.kind is p.KEYWORD_ONLY and name in hints
    }


def check_options(dataset: str, adapter, options: dict[str, Any]) -> None:
    """Raise DatasetError naming the first option whose value does not fit its type."""
    types_of = option_types(adapter)
    for name, value in options.items():
        if name not in types_of:
            continue  # unknown names are reported by the signature check
        problem = _mismatch(value, types_of[name])
        if problem is None and name.endswith("seed") and isinstance(value, int) and value < 0:
            problem = "an integer >= 0"
        if problem is not None:
            raise DatasetError(
                f"dataset {dataset!r}: option {name!r} must be {problem}, got {value!r}"
            )


def _describe(hint: Any) -> str:
    if hint is type(None):
        return "null"
    return _mismatch(_NOTHING, hint) or "any value"


def _plural(description: str) -> str:
    """'a string' -> 'strings', 'an integer' -> 'integers' (the descriptions used here)."""
    return description.split(" ", 1)[1] + "s" if description.startswith("a") else description


_NOTHING = object()  # fits no known type, so _mismatch returns the type's description


def _mismatch(value: Any, hint: Any) -> str | None:
    """None if `value` fits `hint`, else a short description of what was expected."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if any(_mismatch(value, a) is None for a in args):
            return None
        return " or ".join(_describe(a) for a in args)
    if origin is tuple or hint is tuple:
        if not isinstance(value, list | tuple):
            return "a list"
        item = args[0] if args else Any
        bad = next((v for v in value if _mismatch(v, item) is not None), None)
        return None if bad is None else f"a list of {_plural(_describe(item))}"
    if hint is Any:
        return None
    if hint is type(None):
        return None if value is None else "null"
    if hint is bool:
        return None if isinstance(value, bool) else "true or false"
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok and math.isfinite(value) else "a finite number"
    if hint is str:
        return None if isinstance(value, str) else "a string"
    if hint is dict or origin is dict:
        return None if isinstance(value, dict) else "a JSON object"
    return None  # a type this checker does not know: the adapter validates it
