"""Two generator_sweep rows on the same images, compared image by image (paired).

    python bench/sweep_pairs.py PROJECT JOB_A JOB_B

Rows of one project with the same sources, targets and seeds draw "the same image" under two
settings; an image is keyed by (source, class, seed). Prints both rates on the shared images,
the discordant counts (right under A only, under B only) and McNemar's exact two-sided p
(binomial on the discordant pairs): a difference of a few images between two Wilson intervals
is read here, not by eye.
"""

from __future__ import annotations

import json
import sys
from math import comb
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def right_by_key(store, job: int) -> dict[tuple, bool]:
    from generator_sweep import reads

    from debias_core.store import SampleFilter

    samples = store.list_samples(SampleFilter(job_id=job))
    read = reads(store, samples)
    right = read["digit"] & read["colour"]
    keys = [(s.parent_id, s.y, store.get_recipe(s.recipe_id).seed) for s in samples]
    return dict(zip(keys, right.tolist(), strict=True))


def mcnemar_p(only_a: int, only_b: int) -> float:
    n, k = only_a + only_b, min(only_a, only_b)
    if not n:
        return 1.0
    return min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n)


def main(argv=None) -> None:
    from debias_core.store import Store

    folder, job_a, job_b = (argv or sys.argv[1:])[:3]
    store = Store.open(Path(folder))
    a, b = right_by_key(store, int(job_a)), right_by_key(store, int(job_b))
    shared = sorted(set(a) & set(b))
    ra = np.array([a[k] for k in shared])
    rb = np.array([b[k] for k in shared])
    only_a, only_b = int((ra & ~rb).sum()), int((rb & ~ra).sum())
    row = {
        "shared": len(shared),
        "right_a": int(ra.sum()),
        "right_b": int(rb.sum()),
        "only_a": only_a,
        "only_b": only_b,
        "mcnemar_p": mcnemar_p(only_a, only_b),
    }
    print(json.dumps(row))


if __name__ == "__main__":
    main()
