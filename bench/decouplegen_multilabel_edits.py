"""DecoupleGen's multi-label edits on the embedded multi-label demo: what the edits draw, what
verification keeps, and how the co-occurrence P(c | b) moves (issue 20 section 4, generation side).

python bench/decouplegen_multilabel_edits.py [--seeds 0 1 2] [--sources 2] [--per-group 4]
    [--personalize-steps 100] [--steps 20] [--train-per-class 100] [--quick]

Per seed: a `colored-digits-multilabel` project (the designed pairs (digit k, k-th colour) for
the biased digits); `generate --method decouplegen-multi` with edit=removal (its per-image
personalization, parts=labels, runs inside it) and edit=replacement (the same learned files);
txt2img of b alone ("a photo of digit k", no context) with the same seeds and counts as a
baseline; the `label-presence` policy (judge reader: the digit, and the colour of the box) on
every image. Reported per method: b found, c found, accepted (b found and c not), for
replacement also d found; and P(c | b) of each pair in the real train split and in the
augmented set (real + accepted). The mAP side (exclusive / co-occur mAP, bias score) needs the
multi-label training of w3-multilabel and is not measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_common import write_raw  # noqa: E402


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", default="/tmp/decouplegen-multi-bench")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--sources", type=int, default=2, help="source images per pair")
    p.add_argument("--per-group", type=int, default=4, help="images per source and edit")
    p.add_argument("--personalize-steps", type=int, default=100)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--train-per-class", type=int, default=100)
    p.add_argument("--tag", default="")
    p.add_argument("--quick", action="store_true", help="tiny settings to check the script")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.sources, args.per_group = [0], 1, 1
        args.personalize_steps, args.steps, args.train_per_class = 2, 2, 20
        args.tag = args.tag or "quick"
    return args


def make_project(folder: Path, seed: int, per_class: int):
    from debias_core.data.ingest import create_project

    if folder.exists():
        shutil.rmtree(folder)
    options = {"train_per_class": per_class, "seed": seed}
    return create_project(folder, "colored-digits-multilabel", options=options)


def generate(root: str, args, seed: int, edit: str) -> float:
    from debias_core.cli import main

    start = time.perf_counter()
    code = main(
        ["generate", root, "--method", "decouplegen-multi", "--seed", str(seed)]
        + ["--per-group", str(args.per_group), "--steps", str(args.steps), "--batch-size", "8"]
        + ["--param", f"sources={args.sources}", "--param", f"edit={edit}"]
        + ["--param", f"personalize_steps={args.personalize_steps}"]
    )
    if code:
        raise SystemExit(f"generate {edit} failed ({code})")
    return time.perf_counter() - start


def read_labels(store, samples, names) -> list[float]:
    from debias_core.verify.scorers.label_presence import LabelPresenceParams, presence

    return presence(store, samples, names, LabelPresenceParams())


def edit_rows(store, edit: str) -> dict:
    """b found, c found, accepted, d found of one edit's images."""
    from debias_core.store import SampleFilter

    names = store.label_name_map()
    samples = [
        s
        for s in store.list_samples(SampleFilter(source="generated"))
        if s.meta.get("edit") == edit
    ]
    accepted = set(store.sample_ids(SampleFilter(source="generated", status="accepted")))
    bs = [names[s.meta["pair"][0]] for s in samples]
    cs = [names[s.meta["pair"][1]] for s in samples]
    p = read_labels(store, samples * 2, bs + cs)
    b_found = np.asarray(p[: len(samples)]) >= 0.5
    c_found = np.asarray(p[len(samples) :]) >= 0.5
    row = {
        "images": len(samples),
        "b_found": float(b_found.mean()),
        "c_found": float(c_found.mean()),
        "accepted_reading": float((b_found & ~c_found).mean()),
        "accepted_policy": len([s for s in samples if s.id in accepted]) / max(len(samples), 1),
    }
    if edit == "replacement":
        ds = [names[s.meta["sibling"]] for s in samples]
        row["d_found"] = float((np.asarray(read_labels(store, samples, ds)) >= 0.5).mean())
    return row


def txt2img_b_alone(store, args, seed: int) -> dict:
    """'a photo of digit k' (no context) for each pair's b, as many images as an edit draws."""
    from debias_core.generate.loop import sample
    from debias_core.models.cache import cached_backbone
    from debias_core.verify.scorers.judge import JudgeParams, _load, judge_file, read
    from debias_core.verify.scorers.label_presence import digit_of, frame_filled

    names = store.label_name_map()
    backbone = cached_backbone("embedded")
    n = args.sources * args.per_group
    b_found, c_found = [], []
    start = time.perf_counter()
    for pair in store.pairs_for_study():
        b, c = names[pair.b], names[pair.c]
        seeds = [seed * 10_000 + pair.b * 100 + k for k in range(n)]
        images = sample(backbone, [f"a photo of {b}"] * n, seeds, args.steps, 4.0).images
        images = frame_filled(np.asarray(images))
        probs, strokes, backgrounds = read(_load(str(judge_file(JudgeParams()))), images)
        b_found += list(probs[:, digit_of(b)] >= 0.5)
        c_found += [c in (s, g) for s, g in zip(strokes, backgrounds, strict=True)]
    b_found, c_found = np.asarray(b_found), np.asarray(c_found)
    return {
        "images": len(b_found),
        "b_found": float(b_found.mean()),
        "c_found": float(c_found.mean()),
        "accepted_reading": float((b_found & ~c_found).mean()),
        "wall_s": time.perf_counter() - start,
    }


def main(argv=None) -> None:
    import torch

    args = parse(argv)
    torch.set_num_threads(1)
    from debias_core.analysis.cooccurrence import cooccurrence

    result = {
        "args": vars(args),
        "machine": platform.platform(),
        "load_start": os.getloadavg(),
        "seeds": [],
    }
    for seed in args.seeds:
        store = make_project(Path(args.workdir) / f"seed{seed}", seed, args.train_per_class)
        root = str(store.root)
        t_removal = generate(root, args, seed, "removal")
        t_replacement = generate(root, args, seed, "replacement")
        jobs = {j.kind: j for j in store.list_jobs()}
        from debias_core.cli import main as cli

        if cli(["verify", root, "--policy", "label-presence"]):
            raise SystemExit("verify failed")
        table = cooccurrence(store)
        names = store.label_name_map()
        shift = {}
        for p in store.pairs_for_study():
            row = table.objects.index(names[p.b])
            col = table.contexts.index(names[p.c])
            shift[f"{names[p.b]}|{names[p.c]}"] = {
                "original": table.original[row][col],
                "augmented": table.augmented[row][col],
            }
        seed_row = {
            "seed": seed,
            "removal": edit_rows(store, "removal") | {"wall_s": t_removal},
            "replacement": edit_rows(store, "replacement") | {"wall_s": t_replacement},
            "txt2img_b_alone": txt2img_b_alone(store, args, seed),
            "p_c_given_b": shift,
            "personalize_job": jobs["personalize"].id,
        }
        print(json.dumps(seed_row), flush=True)
        result["seeds"].append(seed_row)
    result["load_end"] = os.getloadavg()
    write_raw("decouplegen_multilabel_edits", args.tag, result)


if __name__ == "__main__":
    main()
