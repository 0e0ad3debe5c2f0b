"""The SD-2 GPU benchmark runs end-to-end at a tiny size on CPU."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "sd2_gpu.py"


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_sd2_gpu", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sd2_bench_tiny_runs_on_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bench = _load_bench()
    results = bench.main(["--tiny", "--batches", "1,2", "--json", str(tmp_path / "r.json")])
    assert [(r["dtype"], r["batch"]) for r in results] == [
        ("float32", 1),
        ("float32", 2),
        ("bfloat16", 1),
        ("bfloat16", 2),
    ]
    assert all(r["images_per_s"] > 0 and r["peak_gib"] is None for r in results)
    assert (tmp_path / "r.json").exists()


def test_sd2_configs_match_the_published_architecture():
    bench = _load_bench()
    assert bench.SD2_UNET["block_out_channels"] == (320, 640, 1280, 1280)
    assert bench.SD2_UNET["attention_head_dim"] == (5, 10, 20, 20)
    assert bench.SD2_UNET["cross_attention_dim"] == bench.SD2_TEXT["hidden_size"] == 1024
    assert bench.SD2_VAE["block_out_channels"] == (128, 256, 512, 512)
