"""One check for every `--device` (CLI, app, executor): a torch device this machine has."""

from __future__ import annotations

DEVICE_HELP = "torch device (cpu, cuda, cuda:1, mps)"
EXAMPLES = "use cpu, cuda, cuda:1 or mps"


def check_device(spec: str) -> str:
    """`spec` unchanged if torch can parse it and the device exists here, else a ValueError
    saying why (so a job is never queued for a device it cannot run on)."""
    text = spec.strip() if isinstance(spec, str) else ""
    if text == "cpu":  # the default: no torch import, so `--help` and small commands stay fast
        return text
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise ValueError(f"device {spec!r} is not a torch device; {EXAMPLES}") from None
    if device.type == "cpu":
        return text
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"device {spec!r}: no CUDA GPU is available here; use cpu")
        if device.index is not None and device.index >= count:
            raise ValueError(f"device {spec!r}: this machine has {count} CUDA GPU(s), cuda:0..")
        return text
    if device.type == "mps" and torch.backends.mps.is_available():
        return text
    raise ValueError(f"device {spec!r} is not available here; {EXAMPLES}")
