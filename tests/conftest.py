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


TINY_MULTILABEL = {
    "classes": (0, 1, 2),
    "palette": ("red", "green", "blue"),
    "biased_digits": (0,),
    "train_per_class": 20,
    "bias_ratio": 0.9,
    "val_fraction": 0.05,
    "test_fraction": 0.05,
}


@pytest.fixture(scope="session")
def multilabel_template(tmp_path_factory):
    """A 3-digit, 3-colour colored-digits-multilabel project (digit 0 biased to red), made once."""
    from debias_core.data.ingest import create_project

    folder = tmp_path_factory.mktemp("multilabel") / "proj"
    create_project(folder, "colored-digits-multilabel", options=dict(TINY_MULTILABEL)).close()
    return folder


@pytest.fixture
def multilabel_project(multilabel_template, tmp_path):
    """A fresh copy of the tiny multi-label project (tests add runs and pairs to it)."""
    import shutil

    from debias_core.store import Store

    folder = tmp_path / "ml"
    shutil.copytree(multilabel_template, folder)
    return Store.open(folder)


@pytest.fixture
def tiny_project(tmp_path):
    """A 2-class, 2-colour Colored Digits project (a few hundred 32x32 images)."""
    from debias_core.data.ingest import create_project

    return create_project(tmp_path / "proj", "colored-digits", options=dict(TINY_DIGITS))


@pytest.fixture(scope="module")
def backbone_dir(tmp_path_factory):
    """The dummy backbone as a diffusers folder, a backbone spec the jobs load by path. The model
    cache is cleared around each module, so no module reuses another's loaded backbone."""
    from live_app import save_dummy_backbone

    from debias_core.models.cache import clear_backbone_cache

    folder = str(save_dummy_backbone(tmp_path_factory.mktemp("dummy") / "backbone"))
    clear_backbone_cache()
    yield folder
    clear_backbone_cache()


@pytest.fixture
def fresh_backbone_cache():
    """Each test loads its backbone anew (a test that changes one never leaks into the next)."""
    from debias_core.models.cache import clear_backbone_cache

    clear_backbone_cache()
    yield
    clear_backbone_cache()
