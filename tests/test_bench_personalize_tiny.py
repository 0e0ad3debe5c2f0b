"""The personalization benches run end to end at a tiny size on CPU."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_sd2_personalize_bench_tiny_runs_on_cpu(tmp_path):
    bench = _load("sd2_personalize_gpu")
    result = bench.main(["--tiny", "--json", str(tmp_path / "r.json")])
    assert result["concepts"] == 3 and result["size"] == 64 and result["device"] == "CPU"
    assert result["batched_s"] > 0 and result["loop_s"] > 0 and result["peak_gib_batched"] is None
    # The same concepts trained together or alone end at the same loss.
    assert result["max_final_loss_diff"] < 1e-4
    assert (tmp_path / "r.json").exists()
