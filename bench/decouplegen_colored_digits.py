"""DecoupleGen on Colored Digits with the embedded backbone: personalize, generate, verify, compare.

python bench/decouplegen_colored_digits.py [--bias 0.99] [--style plain] [--sources 2]
    [--per-group 2] [--personalize-steps 200] [--steps 20] [--epochs 6] [--threads 1] [--quick]

1. `generate --method decouplegen` as one job: the per-image personalization of the sources
   (N per class from its bias-aligned group) runs inside it, then each source's object token and
   LoRA draw it in every other colour (timed separately, from the two jobs' rows).
2. A few recipes replay bit-exactly; the `judge` policy (recorded context: the new colour) decides.
   The independent digit judge reads digit and background of every image: the source's digit, the
   new colour, the source's colour (the learned files carrying the old context over).
3. The same personalization without re-training: the paper's prompt form ("a photo of [V] on a
   green background") and tokens only (no LoRA), to show what the default wording buys.
4. txt2img on exactly the planned groups with as many images per group, judged the same way;
   each job's Fréchet distance (embedded CLIP) to the real test images of its groups.
5. ERM on real + judge-accepted DecoupleGen images and on real + all txt2img images (one seed):
   test worst-group, average, balanced accuracy. `--epochs 0` skips it.
Raw rows go to bench/raw/decouplegen_bias<B>-<style>[-TAG].json.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable as a plain script
sys.path.insert(0, str(ROOT / "bench"))
from bench_common import judge_read, method_parser, train_row, write_raw  # noqa: E402


def parse(argv=None):
    p = method_parser(__doc__, "decouplegen")
    p.add_argument("--style", default="plain")
    p.add_argument("--sources", type=int, default=2, help="sources per class (majority:N)")
    p.add_argument("--per-group", type=int, default=2, help="images per (source, new context)")
    p.add_argument("--personalize-steps", type=int, default=200)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--epochs", type=int, default=6, help="ERM epochs (0: no training)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tag", default="")
    p.add_argument("--quick", action="store_true", help="tiny settings to check the script")
    args = p.parse_args(argv)
    if args.quick:
        args.sources, args.per_group, args.personalize_steps = 1, 1, 4
        args.steps, args.epochs, args.tag = 4, 0, args.tag or "quick"
    return args


def seconds(job) -> float:
    stamp = lambda s: datetime.fromisoformat(s)  # noqa: E731
    return (stamp(job.finished_at) - stamp(job.started_at)).total_seconds()


def judged(store, ids) -> dict:
    """Rates the digit judge reads: the class digit, the recorded (new) colour, both, and the
    source's colour (the old context carried over)."""
    samples = [store.get_sample(i) for i in ids]
    images = np.stack([np.asarray(store.sample_image(i)) for i in ids])
    colours, digits, probs, backgrounds = judge_read(store, images)
    digit_ok = probs.argmax(1) == np.asarray([digits[s.y] for s in samples])
    bg = np.asarray(backgrounds)
    context_ok = bg == np.asarray([colours[s.a] for s in samples])
    parents = [s.parent_id for s in samples]
    old = np.asarray([p is not None and colours[store.get_sample(p).a] for p in parents])
    return {
        "images": len(ids),
        "digit": float(digit_ok.mean()),
        "context": float(context_ok.mean()),
        "digit_and_context": float((digit_ok & context_ok).mean()),
        "source_context": float((bg == old).mean()) if parents[0] is not None else None,
    }


def verified(store, job_id: int) -> dict:
    from debias_core.jobs.foreground import run_verify

    counts = run_verify(store, policy="judge", job=job_id)["counts"]
    return {"judge_policy": counts, "acceptance": counts["accept"] / max(sum(counts.values()), 1)}


def generate(store, method, per_group, args, groups=(), **params):
    from debias_core.generate import GenerateConfig
    from debias_core.jobs.foreground import run_generation

    config = GenerateConfig(
        method=method, per_group=per_group, steps=args.steps, seed=0, batch_size=16,
        groups=tuple(groups), params=params,
    )  # fmt: skip
    start = time.perf_counter()
    run = run_generation(store, config)
    return run, time.perf_counter() - start


def replays(store, ids) -> list[bool]:
    from debias_core.generate.recipes import regenerate_sample

    picks = ids[:: max(1, len(ids) // 3)][:3]
    return [
        bool(np.array_equal(np.asarray(regenerate_sample(store, i)), store.sample_image(i)))
        for i in picks
    ]


def variant(store, job_id, label, args, **params) -> dict:
    """DecoupleGen again with the same personalization and other prompt / attachment settings."""
    run, wall = generate(store, "decouplegen", args.per_group, args, **params)
    row = {"setting": label, "job_id": run.job_id, "images_per_s": len(run.sample_ids) / wall}
    row |= judged(store, run.sample_ids) | verified(store, run.job_id)
    print(json.dumps(row), flush=True)
    return row


def distances(store, labels: dict[int, str]) -> list[dict]:
    """Fréchet distance (embedded CLIP) of each generation job's images to the real test images
    of the same groups, with the real-train floor drawn at the same size."""
    from debias_core.analysis.distance_report import distance_report

    rows = []
    for row in distance_report(store).rows:
        job = int(row.key.split()[-1]) if row.scope == "job" else None
        if job in labels:
            rows.append({"setting": labels[job], "frechet": row.distance, "floor": row.floor})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def train(store, label: str, synthetic: str, epochs: int) -> dict:
    from debias_core.train import TrainConfig

    return train_row(store, TrainConfig(epochs=epochs, synthetic=synthetic, seed=0), setting=label)


def main(argv=None) -> None:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    import shutil

    from debias_core.data.ingest import create_project
    from debias_core.store import SampleFilter

    workdir = Path(args.workdir) / f"bias{args.bias}-{args.style}-{args.tag or 'run'}"
    shutil.rmtree(workdir, ignore_errors=True)
    options = {"bias_ratio": args.bias, "style": args.style}
    store = create_project(workdir / "project", "colored-digits", options=options)
    result: dict = {"args": vars(args), "machine": platform.processor() or platform.machine()}

    # 1. the whole method as one job (its personalization inside)
    params = {"sources": f"majority:{args.sources}", "personalize_steps": args.personalize_steps}
    run, wall = generate(store, "decouplegen", args.per_group, args, **params)
    personalize = next(j for j in store.list_jobs() if j.kind == "personalize")
    gen_job = store.get_job(run.job_id)
    ids = run.sample_ids
    main_row = {
        "setting": "decouplegen (default prompt, token + LoRA)",
        "sources": len(personalize.params["samples"]),
        "personalize_s": seconds(personalize),
        "generate_s": seconds(gen_job) - seconds(personalize),
        "total_s": wall,
        "replayed_bit_exact": replays(store, ids),
    }
    main_row["images_per_s"] = len(ids) / main_row["generate_s"]
    main_row |= judged(store, ids) | verified(store, run.job_id)
    print(json.dumps(main_row), flush=True)
    result["decouplegen"] = [main_row]

    # 2. the same learned files, other prompt / attachment settings
    paper = "a photo of {object} on a {context_name} background"
    result["decouplegen"].append(
        variant(store, personalize.id, "paper's prompt form", args, personalization=personalize.id,
                prompt=paper, **params)
    )  # fmt: skip
    result["decouplegen"].append(
        variant(store, personalize.id, "token only (no LoRA)", args,
                personalization=personalize.id, lora=False, **params)
    )  # fmt: skip

    # 3. txt2img on the same groups, as many images per group
    samples = store.list_samples(SampleFilter(ids=ids))
    groups = sorted({(s.y, s.a) for s in samples})
    per_group = len(ids) // len(groups)
    t2i, t2i_wall = generate(store, "txt2img", per_group, args, groups=groups)
    row = {"setting": "txt2img, same groups", "images_per_s": len(t2i.sample_ids) / t2i_wall}
    row |= judged(store, t2i.sample_ids) | verified(store, t2i.job_id)
    print(json.dumps(row), flush=True)
    result["txt2img"] = row

    labels = {run.job_id: main_row["setting"], t2i.job_id: row["setting"]}
    labels |= {r["job_id"]: r["setting"] for r in result["decouplegen"][1:]}
    result["distance"] = distances(store, labels)

    # 4. retraining (one seed): the main run's accepted images vs txt2img's
    if args.epochs:
        result["training"] = [train(store, "ERM, real only", "none", args.epochs)]
        # people's decisions outrank the policy's: keep only one generator's images per row
        everything = set(store.sample_ids(SampleFilter(source="generated")))
        store.decide(sorted(everything - set(ids)), "reject", "bench", "not in this row")
        result["training"].append(
            train(store, "ERM + decouplegen (judge-accepted)", "accepted", args.epochs)
        )
        store.decide(sorted(everything - set(t2i.sample_ids)), "reject", "bench", "not in this row")
        store.decide(t2i.sample_ids, "accept", "bench", "txt2img row: all images")
        result["training"].append(train(store, "ERM + txt2img (all)", "accepted", args.epochs))

    write_raw(f"decouplegen_bias{args.bias}-{args.style}", args.tag, result)


if __name__ == "__main__":
    main()
