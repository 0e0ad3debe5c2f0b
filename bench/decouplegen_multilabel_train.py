"""Multi-label classifiers trained on the embedded demo with and without DecoupleGen's edits
(issue 20 section 4, training side), on the projects `decouplegen_multilabel_edits.py` made.

python bench/decouplegen_multilabel_train.py [--workdir /tmp/decouplegen-multi-bench]
    [--seeds 0 1 2] [--epochs 10]

Per seed (its own project, generation and training seed): the standard classifier
(`multilabel-bce`) on the real train split; the same on real + the removal job's images the
`label-presence` policy accepted; the same on real + the accepted replacement images. Printed per
setting: the mean over seeds with its 95% Student-t interval of exclusive / co-occur / unbiased /
all mAP and the mean bias score over the pairs, and the exclusive-mAP lift over the standard
classifier paired by seed. The four loss-based baselines and the bias-pair measurement are in
`bench/multilabel_baselines.py` (w3-multilabel), on its own project.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_common import write_raw  # noqa: E402

SETTINGS = ("standard", "+ removal (accepted)", "+ replacement (accepted)")


def edit_job(store, edit: str) -> int:
    jobs = [
        j
        for j in store.list_jobs()
        if j.kind == "generate" and j.params.get("params", {}).get("edit", "removal") == edit
    ]
    return jobs[0].id


def run_row(store, setting: str, seed: int, epochs: int) -> dict:
    from debias_core.evaluate.multilabel import SUMMARIES
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    synthetic = {}
    if setting != SETTINGS[0]:
        edit = "removal" if "removal" in setting else "replacement"
        synthetic = {"synthetic": "accepted", "synthetic_job": edit_job(store, edit)}
    config = TrainConfig(method="multilabel-bce", epochs=epochs, seed=seed, **synthetic)
    start = time.perf_counter()
    result = run_training(store, config)
    ml = result.multilabel
    scores = [p.bias_score for p in ml.pairs if p.bias_score is not None]
    return {
        "setting": setting,
        "seed": seed,
        "run": result.run_id,
        "synthetic_images": len(store.get_run(result.run_id).synthetic_ids or []),
        **{name: ml.summary(name) for name in SUMMARIES},
        "intervals": ml.intervals,
        "mean_bias": sum(scores) / len(scores) if scores else None,
        "wall_s": time.perf_counter() - start,
    }


def table(rows: list[dict]) -> str:
    from multilabel_baselines import cell

    from debias_core.evaluate.multilabel import SUMMARIES, SUMMARY_TITLES
    from debias_core.evaluate.uncertainty import paired_lift

    titles = [SUMMARY_TITLES[n] for n in SUMMARIES]
    lines = [
        "| setting | images added | " + " | ".join(titles) + " | mean bias score "
        "| excl. mAP lift vs standard |",
        "|---" * (len(titles) + 4) + "|",
    ]
    standard = {r["seed"]: r for r in rows if r["setting"] == SETTINGS[0]}
    for setting in SETTINGS:
        mine = sorted((r for r in rows if r["setting"] == setting), key=lambda r: r["seed"])
        if not mine:
            continue
        cells = [cell([r[n] for r in mine]) for n in SUMMARIES]
        cells.append(cell([r["mean_bias"] for r in mine], 1.0, 2))
        lift = "-"
        if setting != SETTINGS[0] and len(mine) > 1:
            lift = paired_lift(
                [r["exclusive_map"] for r in mine],
                [standard[r["seed"]]["exclusive_map"] for r in mine],
            ).describe()
        added = "/".join(str(r["synthetic_images"]) for r in mine)
        lines.append(f"| {setting} | {added} | " + " | ".join(cells) + f" | {lift} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    from debias_core.store import Store

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", default="/tmp/decouplegen-multi-bench")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--tag", default="")
    p.add_argument("--tables", nargs="*", help="only print the table of these raw files' rows")
    args = p.parse_args(argv)
    if args.tables:
        print(table([r for f in args.tables for r in json.loads(Path(f).read_text())["rows"]]))
        return
    torch.set_num_threads(1)
    result = {"args": vars(args), "load_start": os.getloadavg(), "rows": []}
    for seed in args.seeds:
        store = Store.open(Path(args.workdir) / f"seed{seed}")
        for setting in SETTINGS:
            row = run_row(store, setting, seed, args.epochs)
            result["rows"].append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "intervals"}), flush=True)
    result["load_end"] = os.getloadavg()
    print(table(result["rows"]))
    write_raw("decouplegen_multilabel_train", args.tag, result)


if __name__ == "__main__":
    main()
