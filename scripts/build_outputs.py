"""What both embedded builds (backbone and CLIP) share: their log lines and their last step,
writing quality.json and the model card next to the weights."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path


def elapsed_log(start: float) -> Callable[[str], None]:
    """A `log(msg)` that prints each line with the seconds since `start`, at once."""

    def log(msg: str) -> None:
        print(f"[{time.time() - start:6.1f}s] {msg}", flush=True)

    return log


def save_build(
    out: Path, stats: dict, write_card: Callable[[Path, dict], None], accuracy: dict[str, float]
) -> None:
    """quality.json and the card (README.md) from the build's numbers; then one summary line."""
    (out / "quality.json").write_text(json.dumps(stats, indent=2) + "\n")
    write_card(out, stats)
    measured = ", ".join(f"{name} {value:.3f}" for name, value in accuracy.items())
    print(f"done in {stats['times_s']['total_s']:.0f}s: {measured}", flush=True)
