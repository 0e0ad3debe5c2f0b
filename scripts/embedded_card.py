"""Write the model card (README.md) of the embedded backbone from the build's measured numbers."""

from __future__ import annotations

import json
from pathlib import Path


def write_card(out: Path, stats: dict) -> None:
    (Path(out) / "README.md").write_text(
        "# tiny-sd\n\n```json\n" + json.dumps(stats, indent=2) + "\n```\n"
    )
