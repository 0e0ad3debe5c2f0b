"""What the embedded digit judge reads in each generated set of the comparison bench.

For every (variant, source) project under the comparison's --workdir: the share of generated
images whose digit is the class's and whose background is the group's colour, over all images
and over those the row's policy accepted. Nothing is recorded in the projects.

    python bench/judge_sets.py --workdir WORK [--bias 0.99]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # runnable as a plain script
sys.path.insert(0, str(HERE))

from bench_common import judge_read  # noqa: E402

SOURCES = ("txt2img", "dbb", "decouplegen", "clustered-dreambooth")


def read_set(store, status: str | None) -> dict:
    from debias_core.store import SampleFilter

    samples = store.list_samples(SampleFilter(source="generated", status=status))
    if not samples:
        return {"n": 0}
    images = np.stack([np.asarray(store.sample_image(s.id).resize((32, 32))) for s in samples])
    colours, digits, probs, backgrounds = judge_read(store, images)
    digit = np.array([digits[s.y] == int(p.argmax()) for s, p in zip(samples, probs, strict=True)])
    colour = np.array([colours[s.a] == b for s, b in zip(samples, backgrounds, strict=True)])
    return {"n": len(samples), "digit": digit.mean(), "colour": colour.mean(),
            "both": (digit & colour).mean()}  # fmt: skip


def main(argv=None) -> None:
    from debias_core.store import Store

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--workdir", type=Path, required=True, help="the comparison bench's --workdir")
    p.add_argument("--bias", default="0.99")
    args = p.parse_args(argv)
    print("| variant | set | which | images | digit | colour | both |")
    print("|---|---|---|---|---|---|---|")
    for variant in ("plain", "slant"):
        cell = args.workdir / f"{variant}-bias{args.bias}"
        for source in SOURCES:
            for folder in sorted(cell.glob(f"{source}-*")):
                store = Store.open(folder)
                for status in (None, "accepted"):
                    r = read_set(store, status)
                    if r["n"]:
                        print(
                            f"| {variant} | {folder.name} | {status or 'all'} | {r['n']} "
                            f"| {r['digit']:.1%} | {r['colour']:.1%} | {r['both']:.1%} |"
                        )


if __name__ == "__main__":
    main()
