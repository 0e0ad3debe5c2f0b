"""The SD-2 GPU benchmarks run end to end at a tiny size on CPU."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load_bench(name: str = "sd2_gpu"):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_sd2_suite_runs_end_to_end_at_tiny_size_on_cpu(tmp_path, monkeypatch):
    """bench/sd2_suite.py (every GPU measurement of issue 21, one command) at tiny size: it runs
    bench/sd2_gpu.py and bench/sd2_personalize_gpu.py inside, so those are covered here too."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    threads = torch.get_num_threads()
    try:
        out = _load_bench("sd2_suite").main(["--tiny", "--json", str(tmp_path / "r.json")])
    finally:
        torch.set_num_threads(threads)
    assert json.loads((tmp_path / "r.json").read_text())["device"] == "CPU"
    assert [(r["dtype"], r["batch"]) for r in out["txt2img"]] == [
        ("float32", 1),
        ("float32", 2),
        ("bfloat16", 1),
        ("bfloat16", 2),
    ]
    rows = out["txt2img"] + out["adapters"] + out["inpainting"] + [out["inversion_injection"]]
    assert all(r["images_per_s"] > 0 and r["peak_gib"] is None for r in rows)
    assert len(out["inpainting"]) == 2 and out["attention"] == "AttnProcessor2_0"  # SDPA
    pers = out["personalization"]
    assert pers["concepts"] == 2 and pers["size"] == 64 and pers["batched_s"] > 0
    # the same concepts trained together or alone end at the same loss
    assert pers["max_final_loss_diff"] < 1e-4
    flops = out["unet_flops"]
    assert flops["tflop_per_forward"] > 0 and flops["fraction_of_peak"] > 0
    assert flops["matmul_peak_tflops"] > 0


def test_sd2_configs_match_the_published_architecture():
    bench = _load_bench()
    assert bench.SD2_UNET["block_out_channels"] == (320, 640, 1280, 1280)
    assert bench.SD2_UNET["attention_head_dim"] == (5, 10, 20, 20)
    assert bench.SD2_UNET["cross_attention_dim"] == bench.SD2_TEXT["hidden_size"] == 1024
    assert bench.SD2_VAE["block_out_channels"] == (128, 256, 512, 512)
