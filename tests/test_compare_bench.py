"""The comparison bench (bench/compare_methods.py) runs end to end at a tiny size on CPU."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
TINY = {"classes": [0, 1], "palette": ["red", "green"], "train_per_class": 40}


def _load():
    spec = importlib.util.spec_from_file_location("bench_compare", BENCH / "compare_methods.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_quick_run_writes_rows_and_marks_an_unregistered_method(tmp_path, monkeypatch):
    bench = _load()
    # A row whose generator no build registers: it must say so, never carry a number.
    monkeypatch.setitem(bench.SOURCES, "ghost", bench.Source("no-such-generator"))
    ghost = bench.Pipeline("Ghost method", "erm", source="ghost", synthetic="accepted")
    monkeypatch.setitem(bench.PIPELINES, "ghost", ghost)
    raw = tmp_path / "raw.json"
    argv = ["--smoke", "--methods", "erm,ffr,ghost", "--biases", "0.9", "--threads", "1",
            "--dataset-options", json.dumps(TINY), "--workdir", str(tmp_path / "work"),
            "--raw", str(raw)]  # fmt: skip
    result = bench.main(argv)

    rows = json.loads(raw.read_text())["rows"]
    by_method = {(r["kind"], r["method"]): r for r in rows}
    for method in ("erm", "ffr"):
        row = by_method["train", method]
        assert row["status"] == "done" and row["seed"] == 0 and row["bias"] == 0.9
        for column in ("wga", "avg", "balanced"):
            assert 0.0 <= row[column] <= 1.0
        assert row["train_s"] > 0
    ffr = by_method["train", "ffr"]  # 2 images x 4 groups, less those the judge reads elsewhere
    assert ffr["n_synthetic"] + ffr["set_aside"] == 8
    made = by_method["generation", "txt2img"]
    assert made["status"] == "done" and made["images"] == 8 and made["policy"] == "judge"
    assert made["accepted"] + made["rejected"] + made["needs_review"] == 8
    assert made["acceptance"] == made["accepted"] / 8
    assert made["frechet"] > 0 and made["frechet_floor"] > 0
    assert made["images_made_now"] == 8 and made["images_per_s"] > 0

    ghosted = by_method["train", "ghost"]
    assert ghosted["status"] == "not available"
    assert "'no-such-generator' is not available in this build" in ghosted["note"]
    assert not {"wga", "avg", "balanced"} & set(ghosted)
    assert ("generation", "ghost") not in by_method
    ghost_line = next(line for line in result["tables"].splitlines() if "Ghost method" in line)
    assert "not available in this build" in ghost_line and "±" not in ghost_line

    # A rerun with the same sizes skips every finished row (same runs, same numbers).
    again = bench.main(argv)
    assert [r for r in again["rows"] if r["status"] == "done"] == [
        r for r in rows if r["status"] == "done"
    ]


def test_dataset_options_cannot_override_the_bias_flag():
    bench = _load()
    with pytest.raises(SystemExit):
        bench.parse_args(["--dataset-options", '{"bias_ratio": 0.5}'])
    with pytest.raises(SystemExit):
        bench.parse_args(["--methods", "erm,nonsense"])
