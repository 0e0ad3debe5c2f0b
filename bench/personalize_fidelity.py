"""Does personalization bring generations closer to the user's data? Plain and shifted styles.

For each Colored Digits style (plain: drawn like the embedded model's world pool; a shifted style
such as slant: never seen by it), a fresh project (bias 0.99, background colour), then for the
ten bias-aligned groups (the groups every method can learn from):

- txt2img: the group prompt "a photo of digit y, white stroke, on a C background";
- textual-inversion: a token per class (K samples), "a photo of a <c-y> digit y, <context>";
- group-lora: a LoRA per group, the group prompt;
- group-dreambooth: identifier token + LoRA per group, "a photo of <v-y-a> digit y, <context>";
- cluster-lora: k-means (a trained classifier's features) within each group, token + LoRA per
  cluster, images spread evenly over the clusters;
- per-image: object + context tokens and a LoRA per image (2 images per group), generating with
  DecoupleGen's composition, the object token with the context said in words. On the embedded
  model the token takes the class word's place, "a photo of <o-id> 3, <context>": its small text
  encoder reads the colour words by position, and "a photo of <o-id>, <context>" (one token
  fewer than its captions) lost the background colour in 80% of images (measured; see RESULTS).

Each method draws N images per group (20 DDIM steps, guidance 4). Reported: judged fidelity (the
independent digit judge: prompted digit, white stroke, prompted background) and the Fréchet
distance to the real test images of the same groups, in the feature space of an ERM classifier
trained on the project (`run:<id>`; the embedded CLIP replaces it once it lands), with the
real-vs-real distance (train vs test images of the same groups) as the floor.

    python bench/personalize_fidelity.py --quick                  # 2 classes, few steps
    python bench/personalize_fidelity.py --styles plain,slant --json bench/raw/fidelity.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_common import print_and_save  # noqa: E402

METHODS = ("txt2img", "textual-inversion", "group-lora", "group-dreambooth", "cluster-lora",
           "per-image")  # fmt: skip


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="2 classes, 20 steps, 4 images per group")
    p.add_argument("--styles", default="plain,slant")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--steps", type=int, default=200, help="personalization steps (per phase)")
    p.add_argument("--per-group", type=int, default=16, help="generated images per group")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--epochs", type=int, default=6, help="epochs of the feature classifier")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", type=Path)
    p.add_argument("--json", type=Path, help="also write the rows here")
    p.add_argument("--grid", type=Path, help="save a sample grid per style (PNG)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="METHOD:KEY=VALUE",
        help="override a method parameter, e.g. per-image:lr_lora=1e-4",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.classes, args.steps, args.per_group, args.epochs = 2, 20, 4, 1
    return args


def make_project(workdir: Path, style: str, classes: int):
    from debias_core.data.ingest import create_project
    from debias_core.store import Store

    root = workdir / f"digits-{style}-{classes}"
    if (root / "project.db").exists():
        return Store.open(root)
    options = {"style": style, "classes": tuple(range(classes)), "bias_ratio": 0.99}
    return create_project(root, "colored-digits", options=options)


def feature_run(store, epochs: int) -> int:
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    done = [r for r in store.list_runs("train") if r.status == "done"]
    if done:
        return done[0].id
    return run_training(store, TrainConfig(method="erm", epochs=epochs, seed=0)).run_id


def personalize(store, method: str, groups, args, feature_spec: str) -> int:
    from debias_core.jobs.foreground import run_personalization

    params = {"method": method, "steps": args.steps, "seed": args.seed, "batch": 32}
    if method == "textual-inversion":
        params["classes"] = sorted({y for y, _ in groups})
    else:
        params["groups"] = [list(g) for g in groups]
    extra = {
        "cluster-lora": {"features": feature_spec, "clusters": 2},
        "per-image": {"max_images": 2},
    }
    params["params"] = extra.get(method, {}) | overrides(args.param).get(method, {})
    return run_personalization(store, params)


def overrides(items: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for item in items:
        method, _, pair = item.partition(":")
        key, _, value = pair.partition("=")
        out.setdefault(method, {})[key] = value
    return out


def concepts_for(store, job_id: int) -> dict[str, list]:
    out: dict[str, list] = {}
    for artifact in store.list_artifacts(job_id=job_id):
        out.setdefault(artifact.concept, []).append(artifact)
    return out


def generate(store, backbone, method, job_id, groups, n, seed) -> tuple[np.ndarray, list]:
    """N images per group; returns (images, the (digit, background) each one asked for)."""
    from debias_core.generate.prompts import group_text
    from debias_core.generate.runner import personalization
    from debias_core.generate.txt2img import image_seed, run_pipeline

    meta = store.meta()
    images, wanted = [], []
    for y, a in groups:
        text = group_text(meta, y, a)
        seeds = [image_seed(seed, y, a, k) for k in range(n)]
        plain = f"a photo of {text.class_text}, {text.context_text}"
        if method == "txt2img":
            plan = [([], [plain] * n, seeds)]
        else:
            plan = concept_plan(store, method, job_id, y, a, text, plain, seeds)
        for artifacts, prompts, chunk in plan:
            with personalization(store, backbone, artifacts):
                images.append(run_pipeline(backbone, prompts, [""] * len(prompts), chunk, 20, 4.0))
        wanted += [(int(text.class_text.split()[-1]), meta["attr_names"][a])] * n
    return np.concatenate(images), wanted


def concept_plan(store, method, job_id, y, a, text, plain, seeds):
    """(artifacts, prompts, seeds) per concept used for group (y, a)."""
    concepts = concepts_for(store, job_id)
    if method == "textual-inversion":
        (token,) = concepts[f"class-{y}"]
        prompt = f"a photo of a {token.name} {text.class_text}, {text.context_text}"
        return [(concepts[f"class-{y}"], [prompt] * len(seeds), seeds)]
    mine = [arts for arts in concepts.values() if arts[0].y == y and arts[0].a == a]
    plan = []
    for k, arts in enumerate(mine):  # seeds spread evenly over the group's concepts
        chunk = seeds[k :: len(mine)]
        tokens = [t for t in arts if t.kind == "token"]
        if method == "group-lora":
            prompt = plain
        elif method == "per-image":
            obj = next(t for t in tokens if t.meta.get("role") == "object")
            digit = text.class_text.split()[-1]
            prompt = f"a photo of {obj.name} {digit}, {text.context_text}"
        else:  # dreambooth-style identifier
            prompt = f"a photo of {tokens[0].name} {text.class_text}, {text.context_text}"
        plan.append((arts, [prompt] * len(chunk), chunk))
    return plan


def digit_judge():
    from debias_core.models.backbone import EMBEDDED_DIR
    from debias_core.models.digit_judge import load_digit_judge

    return load_digit_judge(EMBEDDED_DIR / "digit_judge.safetensors")


def judge_features(images: np.ndarray) -> np.ndarray:
    """The digit judge's penultimate features: shape only (it reads a colour-free ink map)."""
    import torch

    from debias_core.models.digit_judge import ink_map

    model = digit_judge()
    with torch.no_grad():
        ink = torch.from_numpy(ink_map(images)).float()[:, None]
        return model.head(model.features(ink)).numpy()


def judged(images: np.ndarray, wanted: list) -> dict:
    from debias_core.models.digit_judge import judge

    verdict = judge(digit_judge(), images)
    digit = np.mean([d == w[0] for d, w in zip(verdict.digits, wanted, strict=True)])
    stroke = np.mean([s == "white" for s in verdict.strokes])
    bg = np.mean([b == w[1] for b, w in zip(verdict.backgrounds, wanted, strict=True)])
    return {"digit": float(digit), "stroke": float(stroke), "background": float(bg)}


def real_images(store, groups, split: str, n: int | None = None) -> tuple[np.ndarray, list]:
    from debias_core.analysis.features import read_images
    from debias_core.store import SampleFilter

    ids, wanted = [], []
    for y, a in groups:
        group = store.sample_ids(SampleFilter(source="real", split=split, y=y, a=a))
        group = group[:n] if n else group
        ids += group
        wanted += [(int(store.class_names[y].split()[-1]), store.attr_names[a])] * len(group)
    return read_images(store, ids), wanted


def run_style(style: str, args, workdir: Path) -> list[dict]:
    from debias_core.analysis.distance import frechet_distance
    from debias_core.analysis.features import get_extractor
    from debias_core.models.cache import cached_backbone

    t0 = time.perf_counter()
    store = make_project(workdir, style, args.classes)
    spec = f"run:{feature_run(store, args.epochs)}"
    extractor = get_extractor(store, spec)
    aligned = store.aligned_attrs()
    groups = [(y, aligned[y]) for y in range(args.classes)]
    test, test_wanted = real_images(store, groups, "test")
    test_features, test_shape = extractor.embed(test), judge_features(test)

    def distances(images):
        return {
            "frechet": frechet_distance(test_features, extractor.embed(images)),
            "frechet_shape": frechet_distance(test_shape, judge_features(images)),
        }

    train, train_wanted = real_images(store, groups, "train", n=args.per_group)
    rows = [
        {
            "style": style,
            "method": "real train images (floor)",
            "n": len(train),
            **distances(train),
            **judged(train, train_wanted),
            "train_s": 0.0,
        },
        {
            "style": style,
            "method": "real test images (judge check)",
            "n": len(test),
            "frechet": 0.0,
            "frechet_shape": 0.0,
            **judged(test, test_wanted),
            "train_s": 0.0,
        },
    ]
    grid = [train[:8]]
    print(f"[{style}] project + feature classifier {time.perf_counter() - t0:.0f} s", flush=True)
    backbone = cached_backbone("embedded")
    for method in args.methods.split(","):
        t = time.perf_counter()
        job_id = None if method == "txt2img" else personalize(store, method, groups, args, spec)
        trained = time.perf_counter() - t
        images, wanted = generate(store, backbone, method, job_id, groups, args.per_group, 1)
        grid.append(images[:: max(len(images) // 8, 1)][:8])
        row = {
            "style": style,
            "method": method,
            "n": len(images),
            **distances(images),
            **judged(images, wanted),
            "train_s": trained,
            "generate_s": time.perf_counter() - t - trained,
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.grid:
        save_grid(grid, args.grid.with_name(f"{args.grid.stem}-{style}{args.grid.suffix}"))
    return rows


def save_grid(rows: list[np.ndarray], path: Path) -> None:
    """One row of images per method (first row: real train images), 3x nearest upscaled."""
    from PIL import Image

    width = max(len(r) for r in rows)
    lines = [np.concatenate(list(r) + [np.zeros_like(r[0])] * (width - len(r)), 1) for r in rows]
    Image.fromarray(np.concatenate(lines, 0)).resize(
        (lines[0].shape[1] * 3, len(lines) * lines[0].shape[0] * 3), Image.NEAREST
    ).save(path)


def table(rows: list[dict]) -> str:
    lines = [
        "| style | method | images | Fréchet, run features | Fréchet, judge (shape) features |"
        " digit | white stroke | background | train s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['style']} | {r['method']} | {r['n']} | {r['frechet']:.3f} |"
            f" {r['frechet_shape']:.2f} | {r['digit']:.1%} |"
            f" {r['stroke']:.1%} | {r['background']:.1%} | {r['train_s']:.0f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="fidelity-") as tmp:
        workdir = args.workdir or Path(tmp)
        for style in args.styles.split(","):
            rows += run_style(style, args, workdir)
    print_and_save(table(rows), rows, args.json)
    return rows


if __name__ == "__main__":
    main()
