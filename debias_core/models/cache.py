"""The process-wide backbone cache: models load once, and only pristine ones are handed out.

Personalization attaches tokens and adapters inside `Backbone.scoped()` / `personalized()`, which
undo everything on exit. The cache still checks, on every hand-out, that the model it kept is in
the state it was loaded in (same tokenizer object and size, same module trees and flags); a model
that was changed outside a scope is dropped with a warning and loaded again, so one job's tokens
or adapters never reach the next job.
"""

from __future__ import annotations

import threading
import warnings

import torch

_LOCK = threading.Lock()
_CACHE: dict[tuple[str, str, str], tuple[object, tuple]] = {}
MAX_MODELS = 2


def cached_backbone(spec: str, device: str = "cpu", dtype: str = "float32"):
    """Load a backbone once per process (models load on first use, not at start-up)."""
    from debias_core.models.backbone import load_backbone

    key = (spec, str(device), str(dtype))
    with _LOCK:
        if key in _CACHE:
            backbone, fingerprint = _CACHE[key]
            if backbone.fingerprint() == fingerprint:
                return backbone
            warnings.warn(
                f"backbone {spec!r} was changed outside a personalization scope; reloading it",
                RuntimeWarning,
                stacklevel=2,
            )
            del _CACHE[key]
        backbone = load_backbone(spec, device, getattr(torch, dtype))
        while len(_CACHE) >= MAX_MODELS:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = (backbone, backbone.fingerprint())
        return backbone


def clear_backbone_cache() -> None:
    with _LOCK:
        _CACHE.clear()
