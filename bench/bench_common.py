"""Pieces the method benches share: their parser's first flags, the digit judge's reading of
images, one training row, and printing / saving a report.

Bench scripts put their own folder on sys.path and import this by name (as compare_methods
imports compare_pipelines); the project's imports stay inside the functions, so importing this
is cheap.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

RAW = Path(__file__).resolve().parent / "raw"


def method_parser(doc: str, name: str) -> argparse.ArgumentParser:
    """A bench's parser (its docstring's first line as description) with the flags every
    Colored Digits method bench starts with: --workdir /tmp/<name>-bench and --bias."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--workdir", default=f"/tmp/{name}-bench")
    p.add_argument("--bias", type=float, default=0.99)
    return p


def judge_read(store, images: np.ndarray) -> tuple[list[str], list[int], np.ndarray, list[str]]:
    """What the embedded digit judge reads in uint8 images (N, 32, 32, 3), with the names to
    compare it against: (the project's colour names, the digit of each class, digit
    probabilities (N, 10), background colour names)."""
    from debias_core.verify.scorers.judge import JudgeParams, _load, judge_file, read

    meta = store.meta()
    colours, digits = meta["attr_names"], [int(c.split()[-1]) for c in meta["class_names"]]
    probs, _, backgrounds = read(_load(str(judge_file(JudgeParams()))), images)
    return colours, digits, probs, backgrounds


def train_row(store, config, **labels) -> dict:
    """Train once; the row (the labels, then test worst-group / average / balanced accuracy and
    the wall time) is printed as a JSON line and returned."""
    from debias_core.train.run import run_training

    start = time.perf_counter()
    report = run_training(store, config).report
    row = {
        **labels,
        "wga": report.worst_group_accuracy,
        "avg": report.average_accuracy,
        "balanced": report.balanced_accuracy,
        "wall_s": time.perf_counter() - start,
    }
    print(json.dumps(row), flush=True)
    return row


def raw_path(stem: str, tag: str = "") -> Path:
    """bench/raw/<stem>[-<tag>].json, the folder made if missing."""
    RAW.mkdir(exist_ok=True)
    return RAW / f"{stem}{'-' + tag if tag else ''}.json"


def write_raw(stem: str, tag: str, result) -> Path:
    """Write a bench's raw rows to `raw_path(stem, tag)` and say where."""
    out = raw_path(stem, tag)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return out


def print_and_save(text: str, result, json_path: Path | None) -> None:
    """Print the human-readable report; write the raw result as JSON too when asked."""
    print(text)
    if json_path:
        json_path.write_text(json.dumps(result, indent=2))
