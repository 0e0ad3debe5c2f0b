"""Test set-up: never touch the network, import the repo's packages, share tiny fixtures."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402
import torch  # noqa: E402

# Tiny models run fastest on one thread, and two threads per process oversubscribe a shared
# 2-core machine (measured: up to 100x slower under contention).
torch.set_num_threads(1)

TINY_DIGITS = {
    "classes": (0, 1),
    "palette": ("red", "green"),
    "train_per_class": 40,
    "bias_ratio": 0.9,
}


@pytest.fixture
def tiny_project(tmp_path):
    """A 2-class, 2-colour Colored Digits project (a few hundred 32x32 images)."""
    from debias_core.data.ingest import create_project

    return create_project(tmp_path / "proj", "colored-digits", options=dict(TINY_DIGITS))
