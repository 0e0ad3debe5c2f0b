"""Clustered DreamBooth on one Colored Digits project, one set of cluster LoRAs, two ways a small
group borrows a pool (`borrow_from=class` and `context`), read by the judge.

python bench/cdb_borrow.py PROJECT --personalization ID [--per-group 2] [--steps 20] [--threads 2]
    [--settings class,context] [--borrowed-only]

PROJECT is an existing project with a finished `cluster-lora` personalization (as
bench/group_fidelity.py leaves one); the same LoRAs serve both jobs, so only the borrowing
differs. Prints, per setting and for the borrowed / own groups, the share of images whose digit,
colour and both are the recorded group's. Raw rows: bench/raw/cdb_borrow[-TAG].json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_common import write_raw  # noqa: E402


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("project")
    p.add_argument("--personalization", type=int, required=True)
    p.add_argument("--per-group", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--settings", default="class,context")
    p.add_argument(
        "--borrowed-only",
        action="store_true",
        help="draw only the groups too small for their own pool (the own groups' images do not "
        "depend on borrow_from: same LoRAs, seeds and prompts)",
    )
    p.add_argument("--tag", default="")
    return p.parse_args(argv)


def shares(store, ids: list[int]) -> dict:
    scores = store.latest_scores(ids, "judge")
    digits = [int(c.split()[-1]) for c in store.class_names]
    samples = {s.id: s for s in store.list_samples(_ids(ids))}
    rows = {"borrowed": [], "own": []}
    for i in ids:
        recipe = store.get_recipe(samples[i].recipe_id)
        d = scores[i]["details"]
        digit, colour = d["digit"] == digits[samples[i].y], bool(d["context_ok"])
        rows["borrowed" if recipe.params["borrowed"] else "own"].append((digit, colour))
    out = {}
    for part, pairs in rows.items():
        n = len(pairs)
        out[part] = {
            "images": n,
            "digit": sum(p[0] for p in pairs) / max(n, 1),
            "colour": sum(p[1] for p in pairs) / max(n, 1),
            "both": sum(p[0] and p[1] for p in pairs) / max(n, 1),
        }
    return out


def small_groups(store) -> tuple:
    """The groups with fewer real train images than the default min_group (they borrow)."""
    from debias_core.generate.cluster_sources import train_sizes
    from debias_core.generate.clustered_dreambooth import ClusteredDreamBoothParams

    sizes, low = train_sizes(store), ClusteredDreamBoothParams().min_group
    n_y, n_a = len(store.class_names), len(store.attr_names)
    return tuple((y, a) for y in range(n_y) for a in range(n_a) if sizes.get((y, a), 0) < low)


def _ids(ids):
    from debias_core.store import SampleFilter

    return SampleFilter(ids=ids)


def main(argv=None) -> None:
    from debias_core.generate import GenerateConfig
    from debias_core.jobs.foreground import run_generation, run_verify
    from debias_core.store import Store

    args = parse(argv)
    torch.set_num_threads(args.threads)
    store = Store.open(Path(args.project))
    rows = []
    for setting in args.settings.split(","):
        start = time.perf_counter()
        params = {"personalization": args.personalization, "borrow_from": setting}
        config = GenerateConfig(
            method="clustered-dreambooth", per_group=args.per_group, steps=args.steps, seed=0,
            batch_size=16, params=params, groups=small_groups(store) if args.borrowed_only else (),
        )  # fmt: skip
        run = run_generation(store, config)
        run_verify(store, policy="judge", job=run.job_id)
        row = {"borrow_from": setting, **shares(store, run.sample_ids)}
        row["wall_s"] = time.perf_counter() - start
        print(json.dumps(row), flush=True)
        rows.append(row)
    write_raw("cdb_borrow", args.tag, {"args": vars(args), "rows": rows})


if __name__ == "__main__":
    main()
