"""Do generated images show the group they are recorded in? Each generator on Colored Digits with
the colour on the stroke and on the background, read by the embedded digit judge.

python bench/group_fidelity.py [--variants stroke,plain] [--methods txt2img,dbb,...]
    [--classes 4] [--train-per-class 100] [--bias 0.99] [--steps 20] [--threads 2] [--quick]

Per variant one project (bias 0.99, the first --classes digits and as many colours). Per method
one generation job at small sizes (below); a method that refuses the project before queuing is
reported as refused with its message. Then `verify --policy judge` (the recorded context) runs
over the job, which also records the group the judge reads next to the recorded one; the table
counts images whose digit, whose colour (the one carrying the spurious attribute), and both,
are the recorded group's.

`M+allow` is M with on_object=allow (DiffInject, Clustered DreamBooth: run where they refuse an
attribute on the object by default).

Sizes: txt2img 2 per group; DBB (and `dbb+prompt`: DBB with on_object=prompt) k = 2 sources
per class, 1 image per (source, class), its textual inversion 20 samples x --ti-steps;
DecoupleGen 1 source per class, each in every other colour, --personalize-steps per phase;
DiffInject (GCE run) k = 4 content samples x 2; Clustered DreamBooth 2 per group, its LoRAs
--cdb-steps. Denoising: --steps, except DiffInject's default 50 (its DDIM inversion needs them to
reconstruct). Raw rows: bench/raw/group_fidelity[-TAG].json.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable as a plain script
sys.path.insert(0, str(ROOT / "bench"))
from bench_common import write_raw  # noqa: E402

METHODS = (
    "txt2img",
    "dbb",
    "dbb+prompt",
    "decouplegen",
    "diffinject",
    "diffinject+allow",
    "clustered-dreambooth",
    "clustered-dreambooth+allow",
)
# 'M+allow': M with on_object=allow (it runs where its default refuses an on-object attribute)
ALLOW = {"on_object": "allow"}


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", default="/tmp/group-fidelity-bench")
    p.add_argument("--variants", default="stroke,plain")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--bias", type=float, default=0.99)
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--train-per-class", type=int, default=100)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--ti-steps", type=int, default=100)
    p.add_argument("--personalize-steps", type=int, default=60)
    p.add_argument("--cdb-steps", type=int, default=60)
    p.add_argument("--epochs", type=int, default=3, help="epochs of the ERM / GCE runs")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tag", default="")
    p.add_argument("--quick", action="store_true", help="tiny settings to check the script")
    args = p.parse_args(argv)
    if args.quick:
        args.classes, args.train_per_class, args.steps = 2, 40, 3
        args.ti_steps = args.personalize_steps = args.cdb_steps = 3
        args.epochs, args.tag = 1, args.tag or "quick"
    return args


def make_project(workdir: Path, variant: str, args):
    from debias_core.data.colored_digits import PALETTE
    from debias_core.data.ingest import create_project

    options = {
        "bias_ratio": args.bias,
        "spurious": "stroke" if variant == "stroke" else "background",
        "classes": list(range(args.classes)),
        "palette": list(PALETTE)[: args.classes],
        "train_per_class": args.train_per_class,
    }
    return create_project(workdir / variant, "colored-digits", options=options)


def trained(store, method: str, epochs: int) -> int:
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    return run_training(store, TrainConfig(method=method, epochs=epochs, seed=0)).run_id


def job_config(store, method: str, args):
    """(per_group, params) of each method at the bench's small sizes."""
    if method == "txt2img":
        return 2, {}
    if method.startswith("dbb"):
        run = trained(store, "erm", args.epochs)
        params = {"run": run, "k": 2, "ti_samples": 20, "ti_steps": args.ti_steps}
        return 1, params | ({"on_object": "prompt"} if method == "dbb+prompt" else {})
    if method == "decouplegen":
        return 1, {"sources": "majority:1", "personalize_steps": args.personalize_steps}
    allow = ALLOW if method.endswith("+allow") else {}
    if method.startswith("diffinject"):
        return 2, {"run": trained(store, "gce", args.epochs), "k": 4} | allow
    return 2, {"train_steps": args.cdb_steps} | allow


def read_table(store, ids: list[int]) -> dict:
    """The share of images whose digit / spurious colour / both are the recorded group's, as the
    judge read them (the scores the verify job stored)."""
    scores = store.latest_scores(ids, "judge")
    samples = {s.id: s for s in store.list_samples(_ids(ids))}
    digits = [int(c.split()[-1]) for c in store.class_names]
    digit = np.array([scores[i]["details"]["digit"] == digits[samples[i].y] for i in ids])
    colour = np.array([bool(scores[i]["details"]["context_ok"]) for i in ids])
    return {
        "images": len(ids),
        "digit": float(digit.mean()),
        "colour": float(colour.mean()),
        "both": float((digit & colour).mean()),
        "set_aside": store.count_samples(_ids(ids, set_aside=True)),
    }


def _ids(ids, set_aside=None):
    from debias_core.store import SampleFilter

    return SampleFilter(ids=ids, set_aside=set_aside)


def run_method(store, method: str, args) -> dict:
    from debias_core.generate import GenerateConfig
    from debias_core.jobs.foreground import run_generation, run_verify

    start = time.perf_counter()
    try:
        per_group, params = job_config(store, method, args)
        steps = None if method.startswith("diffinject") else args.steps  # inversion needs 50
        config = GenerateConfig(
            method=method, per_group=per_group, steps=steps, seed=0, batch_size=16,
            params=params,
        )  # fmt: skip
        config = replace(config, method=method.split("+")[0])  # dbb+prompt: dbb, on_object=...
        run = run_generation(store, config)
    except ValueError as exc:  # refused before queuing
        return {"method": method, "refused": str(exc), "wall_s": time.perf_counter() - start}
    run_verify(store, policy="judge", job=run.job_id)
    row = {"method": method, **read_table(store, run.sample_ids)}
    return row | {"wall_s": time.perf_counter() - start}


def markdown(rows: list[dict]) -> str:
    lines = [
        "| variant | method | images | digit right | colour right | both right | set aside |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "refused" in r:
            lines.append(f"| {r['variant']} | {r['method']} | refused before queuing | | | | |")
        else:
            lines.append(
                f"| {r['variant']} | {r['method']} | {r['images']} | {r['digit']:.1%} "
                f"| {r['colour']:.1%} | {r['both']:.1%} | {r['set_aside']} |"
            )
    return "\n".join(lines)


def main(argv=None) -> None:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    workdir = Path(args.workdir) / (args.tag or "run")
    shutil.rmtree(workdir, ignore_errors=True)
    rows = []
    for variant in args.variants.split(","):
        store = make_project(workdir, variant, args)
        for method in args.methods.split(","):
            row = {"variant": variant, **run_method(store, method, args)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    print(markdown(rows))
    machine = platform.processor() or platform.machine()
    write_raw("group_fidelity", args.tag, {"args": vars(args), "machine": machine, "rows": rows})


if __name__ == "__main__":
    main()
