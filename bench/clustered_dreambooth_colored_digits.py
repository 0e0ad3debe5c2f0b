"""Clustered DreamBooth on Colored Digits with the embedded backbone: cluster LoRAs, generation,
the CLIP filter (Eq. 1), what the digit judge says about accepted and rejected images, training.

python bench/clustered_dreambooth_colored_digits.py [--bias 0.99] [--per-group 8] [--clusters 3]
    [--train-steps 200] [--steps 20] [--epochs 10] [--seeds 0] [--threads 2] [--quick]

1. `cluster-lora` on the groups that have >= min_group real train images (at bias 0.99 only each
   class's aligned group): k clusters of CLIP features per group, one identifier token + LoRA each.
2. `clustered-dreambooth`: per-group images for all 80 groups (70 of them borrow their class's
   aligned pool, prompted without the token, as the paper's Section A.5 does); images / s.
3. `verify --policy clip-top-m` (alpha 0.5, top 75% per group); the judge then reads every image
   (digit, background) without recording a verdict: rates for accepted vs rejected images, in
   the groups with their own pool and in the borrowed ones. The same ranking with a label prompt
   that names the context ("a photo of {cls}, {ctx}") is computed too (not recorded).
4. `ffr-llr` (CE + SupCon, then LLR_all) on the accepted images and on all of them.
Raw rows go to bench/raw/clustered_dreambooth_bias<B>[-TAG].json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable as a plain script
sys.path.insert(0, str(ROOT / "bench"))
from bench_common import method_parser, write_raw  # noqa: E402


def parse(argv=None):
    p = method_parser(__doc__, "clustered-dreambooth")
    p.add_argument("--backbone", default="embedded")
    p.add_argument("--per-group", type=int, default=8)
    p.add_argument("--clusters", type=int, default=3)
    p.add_argument("--train-steps", type=int, default=200)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seeds", default="0")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tag", default="", help="suffix of the raw JSON file name")
    p.add_argument("--quick", action="store_true", help="tiny settings to check the script")
    args = p.parse_args(argv)
    if args.quick:
        args.per_group, args.clusters, args.train_steps, args.steps, args.epochs = 2, 2, 4, 4, 1
    return args


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def judge_rows(store, samples) -> dict[int, dict]:
    """Per sample: the judge reads its class digit, its recorded context, both."""
    from debias_core.verify.scorers.judge import Judge, JudgeParams, class_digits

    digits = class_digits(store.meta())
    batch = Judge.score(store, samples, JudgeParams())
    return {
        s.id: {
            "digit": batch.details[s.id]["digit"] == digits[s.y],
            "context": bool(batch.details[s.id]["context_ok"]),
            "p_digit": batch.values[s.id],
        }
        for s in samples
    }


def rates(judged: dict[int, dict], ids) -> dict:
    ids = list(ids)
    if not ids:
        return {"n": 0}
    rows = [judged[i] for i in ids]
    return {
        "n": len(ids),
        "digit": float(np.mean([r["digit"] for r in rows])),
        "context": float(np.mean([r["context"] for r in rows])),
        "both": float(np.mean([r["digit"] and r["context"] for r in rows])),
        "p_digit": float(np.mean([r["p_digit"] for r in rows])),
    }


def context_label_verdicts(store, samples) -> dict[int, str]:
    """clip-top-m's ranking with a label prompt naming the context (scored, never recorded)."""
    from debias_core.verify import POLICIES, SCORERS
    from debias_core.verify.policies.clip_top_m import ClipTopMParams
    from debias_core.verify.scorers.clip_label import ClipLabelParams

    label = SCORERS.get("clip-label").score(
        store, samples, ClipLabelParams(prompt="a photo of {cls}, {ctx}")
    )
    centroid = store.latest_scores([s.id for s in samples], "clip-centroid")
    scores = {
        s.id: {"clip-label": {"value": label.values[s.id]}, "clip-centroid": centroid.get(s.id)}
        for s in samples
    }
    verdicts = POLICIES.get("clip-top-m").decide_all(samples, scores, ClipTopMParams())
    return {sid: v.decision for sid, v in verdicts.items()}


def train_rows(store, synthetic: str, seeds, epochs: int) -> list[dict]:
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    rows = []
    for seed in seeds:
        config = TrainConfig(method="ffr-llr", epochs=epochs, synthetic=synthetic, seed=seed)
        result, wall = timed(run_training, store, config)
        report = result.report
        rows.append(
            {
                "synthetic": synthetic,
                "seed": seed,
                "n_synthetic": len(result.synthetic_ids),
                "wga": report.worst_group_accuracy,
                "avg": report.average_accuracy,
                "balanced": report.balanced_accuracy,
                "wall_s": wall,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv=None) -> None:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    from debias_core.data.ingest import create_project
    from debias_core.generate import GenerateConfig
    from debias_core.generate.cluster_sources import sources
    from debias_core.generate.clustered_dreambooth import (
        ClusteredDreamBoothParams,
        personalize_params,
    )
    from debias_core.generate.runner import target_groups
    from debias_core.jobs.foreground import run_generation, run_personalization, run_verify
    from debias_core.store import SampleFilter, Store

    tag = args.tag or ("quick" if args.quick else "")
    project = Path(args.workdir) / f"bias{args.bias}{'-' + tag if tag else ''}"
    if (project / "project.db").exists():
        store = Store.open(project)
    else:
        store = create_project(project, "colored-digits", options={"bias_ratio": args.bias})
    params = ClusteredDreamBoothParams(clusters=args.clusters, train_steps=args.train_steps)
    config = GenerateConfig(
        method="clustered-dreambooth",
        backbone=args.backbone,
        per_group=args.per_group,
        steps=args.steps,
        params={"clusters": args.clusters, "train_steps": args.train_steps},
    )
    groups = target_groups(store, config)
    needed = sources(store, groups, params)
    trained = sorted({s.group for s in needed.values()})
    job, personalize_s = timed(
        run_personalization, store, personalize_params(config, params, trained)
    )
    n_concepts = len(store.list_artifacts(job_id=job, kind="lora"))
    print(f"personalization job {job}: {n_concepts} cluster LoRAs, {personalize_s:.0f} s")
    config = GenerateConfig(
        **{**config.__dict__, "params": {**config.params, "personalization": job}}
    )
    run, generate_s = timed(run_generation, store, config)
    print(f"generation job {run.job_id}: {len(run.sample_ids)} images, {generate_s:.0f} s")
    verdict, verify_s = timed(run_verify, store, policy="clip-top-m", job=run.job_id)
    print(verdict["message"], f"({verify_s:.0f} s)")

    samples = store.list_samples(SampleFilter(job_id=run.job_id))
    judged = judge_rows(store, samples)
    status = {s.id: s for s in store.list_samples(SampleFilter(job_id=run.job_id))}
    accepted = set(store.sample_ids(SampleFilter(job_id=run.job_id, status="accepted")))
    borrowed = {s.id for s in samples if needed[(s.y, s.a)].borrowed}
    with_context = context_label_verdicts(store, samples)
    table = {}
    for kind, members in (("own pool", set(status) - borrowed), ("borrowed", borrowed)):
        table[kind] = {
            "all": rates(judged, members),
            "accepted": rates(judged, members & accepted),
            "rejected": rates(judged, members - accepted),
            "accepted (label names the context)": rates(
                judged, {i for i in members if with_context[i] == "accept"}
            ),
        }
    print(json.dumps(table, indent=1), flush=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    training = train_rows(store, "accepted", seeds, args.epochs)
    training += train_rows(store, "all", seeds, args.epochs)
    result = {
        "args": vars(args),
        "personalization": {"job": job, "loras": n_concepts, "wall_s": personalize_s},
        "generation": {
            "job": run.job_id,
            "images": len(run.sample_ids),
            "wall_s": generate_s,
            "images_per_s": len(run.sample_ids) / generate_s,
        },
        "verify": {"counts": verdict["counts"], "wall_s": verify_s},
        "judge": table,
        "training": training,
    }
    write_raw(f"clustered_dreambooth_bias{args.bias}", tag, result)


if __name__ == "__main__":
    main()
