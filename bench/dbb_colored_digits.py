"""DBB on Colored Digits with the embedded backbone: sources, inpainting, pruning, retraining.

python bench/dbb_colored_digits.py [--bias 0.99] [--k 10] [--per-group 1] [--steps 25]
    [--grow 2] [--ti-steps 200] [--erm-epochs 10] [--epochs 10] [--seeds 0] [--quick]

1. An ERM run on the biased train split; each class's K lowest-loss train samples are the sources
   (mining quality is measured with the group labels the method never sees).
2. `generate --method dbb` as one job: the textual-inversion job it needs (one token per class),
   then every source into every other class by masked inpainting (images / s of the whole job and
   of the inpainting alone), a few recipes replayed bit-exactly.
3. The independent digit judge reads every image: is the digit the target class's, is the
   background still the source's (the intended counterfactual: target digit, source context)?
4. `verify --policy dbb` (Eq. 3-5) with the same ERM run: acceptance, and how the judge's reading
   differs between accepted and rejected images (does the pruning keep the good ones?).
5. Retraining: ERM on real only, `dbb-retrain` from the ERM run on the accepted images (Eq. 6-8),
   and on all of them; test worst-group, average and balanced accuracy per seed.
Raw rows go to bench/raw/dbb_bias<B>[-TAG].json.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable as a plain script
sys.path.insert(0, str(ROOT / "bench"))
from bench_common import (  # noqa: E402
    judge_read,
    method_parser,
    raw_path,
    train_row,
    write_raw,
)


def parse(argv=None):
    p = method_parser(__doc__, "dbb")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--per-group", type=int, default=1)
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--guidance", type=float, default=4.0)
    p.add_argument("--grow", type=int, default=2)
    p.add_argument("--strength", type=float, default=1.0)
    p.add_argument("--ti-steps", type=int, default=200)
    p.add_argument("--ti-template", default="a photo of a {token} {cls}")
    p.add_argument("--ti-from", default="high-loss", help="high-loss | random")
    p.add_argument("--erm-epochs", type=int, default=10)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seeds", default="0")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tag", default="")
    p.add_argument("--quick", action="store_true", help="tiny settings to check the script")
    p.add_argument(
        "--judge-only", action="store_true", help="re-read the images of a finished run's project"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.k, args.steps, args.ti_steps, args.erm_epochs, args.epochs = 2, 5, 10, 1, 1
    return args


def judged(store, samples) -> dict:
    """Per image: the judge's digit is the target's; its background is the source's."""
    from debias_core.verify.scorers.judge import load_images

    colours, digits, probs, backgrounds = judge_read(store, load_images(store, samples))
    parents = [store.get_sample(s.parent_id) for s in samples]
    digit = probs.argmax(1)
    inside = inside_backgrounds(store, samples)
    return {
        "target_digit": digit == np.array([digits[s.y] for s in samples]),
        "source_digit": digit == np.array([digits[p.y] for p in parents]),
        # the judge reads the background from the border, which lies outside the edit region
        # and is pasted back; what the model drew inside is read separately
        "source_background": np.array(
            [b == colours[p.a] for b, p in zip(backgrounds, parents, strict=True)]
        ),
        "inside_background": np.array(
            [b == colours[p.a] for b, p in zip(inside, parents, strict=True)]
        ),
    }


def inside_backgrounds(store, samples) -> list[str]:
    """The colour the model drew around the new digit: the median of the edit region's pixels
    that are not near-white (the strokes are white), as the judge's nearest colour name."""
    from debias_core.models.digit_judge import _nearest_colour
    from debias_core.models.segmenters.regions import recipe_region

    medians = []
    for s in samples:
        recipe = store.get_recipe(s.recipe_id)
        region = recipe_region(store.mask_pixels(recipe.mask_id), recipe.params)
        pixels = np.asarray(store.sample_image(s.id), np.float32)[region]
        coloured = pixels[pixels.min(axis=1) < 200]
        medians.append(np.median(coloured if len(coloured) else pixels, axis=0))
    return _nearest_colour(np.asarray(medians))


def rates(reads: dict, where: np.ndarray) -> dict:
    if not where.any():
        return {"n": 0}
    both = reads["target_digit"] & reads["inside_background"]
    out = {k: float(v[where].mean()) for k, v in reads.items()}
    return {"n": int(where.sum()), **out, "counterfactual": float(both[where].mean())}


def main(argv=None) -> None:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    if args.judge_only:
        return rejudge(args)
    from debias_core.data.ingest import create_project
    from debias_core.generate import GenerateConfig
    from debias_core.generate.dbb import DbbParams, low_loss_sources
    from debias_core.generate.recipes import regenerate_sample
    from debias_core.jobs.foreground import run_generation, run_verify
    from debias_core.store import SampleFilter, Store
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    workdir = Path(args.workdir)
    base_dir = workdir / f"base-bias{args.bias}"
    if not (base_dir / "project.db").exists():
        create_project(base_dir, "colored-digits", options={"bias_ratio": args.bias})
    base = Store.open(base_dir)
    erm = [
        r
        for r in base.list_runs()
        if r.method == "erm" and r.status == "done" and r.config["epochs"] == args.erm_epochs
    ]
    if erm:
        run_id = erm[0].id
    else:
        run_id = run_training(base, TrainConfig(method="erm", epochs=args.erm_epochs)).run_id
    folder = workdir / f"dbb-{args.tag or 'run'}"
    shutil.rmtree(folder, ignore_errors=True)
    base.close()  # the last connection checkpoints the WAL: the copy is project.db alone
    store = Store.open(shutil.copytree(base.root, folder))

    aligned = store.aligned_attrs()
    sources = low_loss_sources(store, DbbParams(run=run_id, k=args.k))
    picked = [store.get_sample(i) for ids in sources.values() for i in ids]
    result = {
        "args": vars(args),
        "erm_run": run_id,
        "sources_aligned": float(np.mean([s.a == aligned[s.y] for s in picked])),
    }
    print(json.dumps(result), flush=True)

    params = {
        "run": run_id,
        "k": args.k,
        "grow": args.grow,
        "strength": args.strength,
        "ti_steps": args.ti_steps,
        "ti_template": args.ti_template,
        "ti_from": args.ti_from,
    }
    config = GenerateConfig(
        method="dbb",
        backbone="embedded",
        per_group=args.per_group,
        steps=args.steps,
        guidance=args.guidance,
        batch_size=9,
        params=params,
    )
    start = time.perf_counter()
    gen = run_generation(store, config)
    wall = time.perf_counter() - start
    jobs = {j.kind: j for j in store.list_jobs()}
    ti_s = job_seconds(jobs["personalize"])
    samples = store.list_samples(SampleFilter(ids=gen.sample_ids))
    same = [
        bool(np.array_equal(np.asarray(regenerate_sample(store, s.id)), store.sample_image(s.id)))
        for s in samples[:: max(1, len(samples) // 3)][:3]
    ]
    result["generation"] = {
        "images": len(samples),
        "job_wall_s": wall,
        "textual_inversion_s": ti_s,
        "images_per_s_inpainting": len(samples) / max(wall - ti_s, 1e-9),
        "images_per_s_with_ti": len(samples) / wall,
        "replayed_bit_exact": same,
    }
    print(json.dumps(result["generation"]), flush=True)

    start = time.perf_counter()
    counts = run_verify(store, policy="dbb", params={"run": run_id})["counts"]
    result["verify"] = {"counts": counts, "wall_s": time.perf_counter() - start}
    result["judge"] = judge_of(store, samples)
    print(json.dumps(result["verify"] | {"judge": result["judge"]}), flush=True)

    rows = []
    for seed in [int(s) for s in args.seeds.split(",") if s]:  # --seeds '': no training
        config = TrainConfig(epochs=args.epochs, seed=seed)
        rows.append(train_row(store, config, setting="ERM (real only)", seed=seed))
        retrain = {"run": run_id}
        for synthetic in ("accepted", "all"):
            if synthetic == "accepted" and not counts["accept"]:
                continue
            config = TrainConfig(
                method="dbb-retrain",
                epochs=args.epochs,
                seed=seed,
                synthetic=synthetic,
                params=retrain,
            )
            label = f"dbb-retrain from the ERM run ({synthetic})"
            rows.append(train_row(store, config, setting=label, seed=config.seed))
    result["training"] = rows
    write_raw(*raw_name(args), result)


def raw_name(args) -> tuple[str, str]:
    """(stem, tag) of the run's raw file under bench/raw/."""
    return f"dbb_bias{args.bias}", args.tag or ("quick" if args.quick else "")


def judge_of(store, samples) -> dict:
    reads = judged(store, samples)
    status = np.array([store.status_of(s.id) for s in samples])
    return {
        "all": rates(reads, np.ones(len(samples), bool)),
        "accepted": rates(reads, status == "accepted"),
        "rejected": rates(reads, status == "rejected"),
    }


def rejudge(args) -> None:
    """Recompute the judge's reading of a finished run (the project stays in --workdir)."""
    from debias_core.store import SampleFilter, Store

    store = Store.open(Path(args.workdir) / f"dbb-{args.tag or 'run'}")
    samples = store.list_samples(SampleFilter(source="generated"))
    result = json.loads(raw_path(*raw_name(args)).read_text())
    result["judge"] = judge_of(store, samples)
    print(json.dumps(result["judge"]), flush=True)
    write_raw(*raw_name(args), result)


def job_seconds(job) -> float:
    from datetime import datetime

    if not job.started_at or not job.finished_at:
        return 0.0
    start, end = datetime.fromisoformat(job.started_at), datetime.fromisoformat(job.finished_at)
    return (end - start).total_seconds()


if __name__ == "__main__":
    main()
