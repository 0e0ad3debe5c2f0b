"""The embedded models' cards (scripts/embedded_card.py, embedded_clip_card.py) rebuild from their
quality.json to the committed README.md, byte for byte."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import embedded_card  # noqa: E402
import embedded_clip_card  # noqa: E402


@pytest.mark.parametrize(
    "folder, write_card",
    [("tiny-sd", embedded_card.write_card), ("tiny-clip", embedded_clip_card.write_card)],
)
def test_card_rebuilds_byte_identical_from_quality_json(tmp_path, folder, write_card):
    shipped = ROOT / "assets" / folder
    if not (shipped / "quality.json").exists():
        pytest.skip(f"assets/{folder} not built")
    copy = tmp_path / folder  # the card lists the folder's files and sizes: write it elsewhere
    shutil.copytree(shipped, copy)
    (copy / "README.md").unlink()
    write_card(copy, json.loads((copy / "quality.json").read_text()))
    assert (copy / "README.md").read_bytes() == (shipped / "README.md").read_bytes()
