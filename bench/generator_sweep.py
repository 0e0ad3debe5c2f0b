"""Which settings make DBB, DecoupleGen and Clustered DreamBooth draw the right thing? A recorded
sweep on small Colored Digits projects, read by the embedded digit judge.

    nice -n 10 python bench/generator_sweep.py --grid screen [--variants plain,slant]
        [--methods dbb,decouplegen,clustered-dreambooth] [--only NAME,...] [--tag TAG]
        [--failures DIR] [--table-only]

Per variant one project (background colour, bias 0.99, --classes digits in --colours, --train
images per class), shared by every setting of the run so that settings which differ only in
generation reuse their personalization job. Per setting one generation job (its
personalization runs first as the method's prerequisite), then the method's own verification
policy over that job (dbb: the dbb policy with the same ERM run; decouplegen: judge; clustered-
dreambooth: clip-top-m). "Right" = the judge reads the class's digit and the recorded group's
background colour. Each rate comes with its Wilson 95% interval and n. For DBB the colour the
model drew *inside* the edit region is read too (the border is the source's, pasted back).

The grid is data (GRIDS): a row names a method, its generator params and the job's guidance,
steps and images per target. Every finished row is appended to bench/raw/generator_sweep[-TAG].json
at once (a rerun skips rows already there), and the table is printed at the end. --failures DIR
writes a PNG of each row's wrong images (4x upscaled) with the judge's reading in the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable as a plain script
sys.path.insert(0, str(ROOT / "bench"))
from bench_common import judge_read, raw_path  # noqa: E402

POLICY = {"dbb": "dbb", "decouplegen": "judge", "clustered-dreambooth": "clip-top-m"}


@dataclass(frozen=True)
class Setting:
    """One row of the sweep: a method's generator params and the job's sizes."""

    name: str
    method: str
    params: dict = field(default_factory=dict)
    guidance: float = 4.0
    steps: int | None = None  # None: the method's default
    per_group: int = 1
    note: str = ""
    policy_params: dict = field(default_factory=dict)  # beyond the method's policy defaults


def _dbb(name, note="", guidance=4.0, steps=None, **params) -> Setting:
    return Setting(name, "dbb", {"k": 2, **params}, guidance, steps, 1, note)


def _dg(name, note="", guidance=4.0, steps=None, **params) -> Setting:
    return Setting(name, "decouplegen", params, guidance, steps, 1, note)


def _pi(**params) -> dict:  # decouplegen's per-image personalization params
    return {"personalize_params": params}


def _cdb(name, note="", guidance=4.0, steps=None, **params) -> Setting:
    return Setting(name, "clustered-dreambooth", params, guidance, steps, 2, note)


# Screening rows: few images each; the winners are confirmed with --grid confirm.
GRIDS: dict[str, list[Setting]] = {
    "screen": [
        _dbb("dbb/default", "the defaults (k=2 sources per class for size)"),
        _dbb(
            "dbb/name-context",
            "source's colour named (caption form, prompt and inversion)",
            name_context=True,
        ),
        _dbb("dbb/g7.5", guidance=7.5),
        _dbb("dbb/strength0.8", strength=0.8),
        _dbb("dbb/grow4", grow=4),
        _dbb("dbb/name-context-g7.5", guidance=7.5, name_context=True),
        _dbb("dbb/name-context-strength0.8", name_context=True, strength=0.8),
        _dbb("dbb/caption", "prompt in the caption form", prompt="a photo of {token} {class}"),
        _dbb("dbb/name-context-grow4", name_context=True, grow=4),
        _dbb("dbb/name-context-grow6", name_context=True, grow=6),
        _dbb("dbb/name-context-grow4-g7.5", guidance=7.5, name_context=True, grow=4),
        # session 3 (slant's thin 8s): the class tokens' inversion, one change at a time
        _dbb("dbb/ti-steps400", ti_steps=400),
        _dbb("dbb/ti-samples40", ti_samples=40),
        _dbb("dbb/ti-random", "inversion on random train samples", ti_from="random"),
        _dbb("dbb/steps50", "50 denoising steps", steps=50),
        _dbb("dbb/grow6", grow=6),
        _dbb("dbb/grow8", grow=8),
        _dbb("dbb/g7.5-s3", "guidance 7.5 at the session-3 defaults", guidance=7.5),
        _dbb("dbb/g2", guidance=2.0),
        _dbb("dbb/outside-clean", outside="clean"),
        _dbb("dbb/ti-steps100", ti_steps=100),
        _dbb("dbb/ti-steps50", ti_steps=50),
        _dbb("dbb/ti-steps25", ti_steps=25),
        _dg("decouplegen/default", "the defaults"),
        _dg("decouplegen/no-lora", "object token only", lora=False),
        _dg("decouplegen/g7.5", guidance=7.5),
        _dg("decouplegen/lr-lora-1e-4", **_pi(lr_lora=1e-4)),
        _dg("decouplegen/phase2-50", **_pi(phase2_steps=50)),
        _dg("decouplegen/tok-lr-1e-3", **_pi(lr_tokens=1e-3)),
        _dg("decouplegen/lora-scale-0.5", lora_scale=0.5),
        _dg("decouplegen/lora-scale-0.5-g7.5", guidance=7.5, lora_scale=0.5),
        _dg(
            "decouplegen/neg-source",
            "the source's colour as the negative prompt",
            negative="source",
        ),
        _dg("decouplegen/neg-source-g7.5", guidance=7.5, negative="source"),
        _dg("decouplegen/no-lora-neg-source", lora=False, negative="source"),
        _dg("decouplegen/tok-lr-1e-3-neg-source", negative="source", **_pi(lr_tokens=1e-3)),
        _dg("decouplegen/tok-lr-5e-4", **_pi(lr_tokens=5e-4)),
        _dg("decouplegen/tok-lr-1e-3-p2-3e-4", **_pi(lr_tokens=1e-3, phase2_lr_tokens=3e-4)),
        _dg("decouplegen/tok-lr-1e-3-lora-0.5", lora_scale=0.5, **_pi(lr_tokens=1e-3)),
        _cdb("cdb/default", "the defaults"),
        _cdb("cdb/g7.5", guidance=7.5),
        _cdb("cdb/borrowed-0.5", borrowed_lora_scale=0.5),
        _cdb("cdb/borrowed-0", "borrowed groups: plain prompt, no LoRA", borrowed_lora_scale=0.0),
        _cdb("cdb/borrowed-0.5-g7.5", guidance=7.5, borrowed_lora_scale=0.5),
        Setting(
            "cdb/borrowed-0.5+ctx-label",
            "clustered-dreambooth",
            {"borrowed_lora_scale": 0.5},
            per_group=2,
            policy_params={"prompt": "a photo of {cls}, {ctx}"},
        ),
        _cdb(
            "cdb/neg-donor",
            "borrowed groups: the donor's colour as the negative prompt",
            negative="donor",
        ),
        _cdb("cdb/neg-donor-borrowed-0.5", negative="donor", borrowed_lora_scale=0.5),
        _cdb("cdb/rank1", rank=1),
        _cdb("cdb/steps50", train_steps=50),
        # session 3: on top of borrowed_lora_scale=0.5 (named: see "confirm3"), one change each
        _cdb("cdb/b0.5", "= the session-2 default", borrowed_lora_scale=0.5),
        _cdb("cdb/b0.5-rank1", borrowed_lora_scale=0.5, rank=1),
        _cdb("cdb/b0.5-steps50", borrowed_lora_scale=0.5, train_steps=50),
        _cdb("cdb/b0.5-steps400", borrowed_lora_scale=0.5, train_steps=400),
        _cdb("cdb/b0.5-clusters1", borrowed_lora_scale=0.5, clusters=1),
        _cdb("cdb/b0.5-clusters10", borrowed_lora_scale=0.5, clusters=10),
        _cdb("cdb/b0.5-borrow-context", borrowed_lora_scale=0.5, borrow_from="context"),
        _cdb("cdb/b0.5-g2.5", guidance=2.5, borrowed_lora_scale=0.5),
        _cdb("cdb/b0.3", borrowed_lora_scale=0.3),
        _cdb("cdb/ctx-rank1", borrowed_lora_scale=0.5, borrow_from="context", rank=1),
        _cdb("cdb/ctx-g2.5", guidance=2.5, borrowed_lora_scale=0.5, borrow_from="context"),
        _cdb("cdb/ctx-b0.3", borrowed_lora_scale=0.3, borrow_from="context"),
        _cdb("cdb/ctx-b1", borrowed_lora_scale=1.0, borrow_from="context"),
        _cdb("cdb/ctx-own0.5", borrowed_lora_scale=0.5, borrow_from="context", own_lora_scale=0.5),
        _cdb(
            "cdb/ctx-own0.75", borrowed_lora_scale=0.5, borrow_from="context", own_lora_scale=0.75
        ),
        _cdb("cdb/own0.5", "own pools at half weight", borrowed_lora_scale=0.5, own_lora_scale=0.5),
    ],
    # Session 3: DBB's grow on all 10 digits x 8 colours (the defaults named explicitly: a job
    # is reused when its explicit params match, so a bare "default" row would find a job made
    # under older defaults).
    "confirm3": [
        _dbb("dbb/nc-grow4", "= the session-2 defaults", name_context=True, grow=4),
        _dbb("dbb/nc-grow6", name_context=True, grow=6),
        _dbb("dbb/nc-grow8", name_context=True, grow=8),
        _dbb("dbb/nc-grow4-ti100", name_context=True, grow=4, ti_steps=100),
        _dbb("dbb/nc-grow4-ti400", name_context=True, grow=4, ti_steps=400),
        _dbb("dbb/nc-grow4-ti-samples40", name_context=True, grow=4, ti_samples=40),
        _dbb("dbb/nc-grow4-ti-random", name_context=True, grow=4, ti_from="random"),
        _dbb("dbb/nc-grow4-ti50", name_context=True, grow=4, ti_steps=50),
        _dbb("dbb/nc-grow6-ti100", name_context=True, grow=6, ti_steps=100),
        _dbb("dbb/nc-grow4-ti25", name_context=True, grow=4, ti_steps=25),
        _cdb("cdb/b0.5", "= the session-2 default", borrowed_lora_scale=0.5),
        _cdb(
            "cdb/ctx-own0.75", borrowed_lora_scale=0.5, borrow_from="context", own_lora_scale=0.75
        ),
        _dbb("dbb/nc-grow4-ti10", name_context=True, grow=4, ti_steps=10),
        _dbb(
            "dbb/nc-grow4-ti1",
            "~ no inversion: the token at its start",
            name_context=True,
            grow=4,
            ti_steps=1,
        ),
    ],
    # The defaults after the sweep, on more images (run on a 10-class, 8-colour project).
    "confirm": [
        _dbb("dbb/default", "the defaults (k=2 sources per class for size)"),
        _dg("decouplegen/default", "the defaults"),
        Setting("cdb/default", "clustered-dreambooth", per_group=4, note="the defaults"),
        Setting(
            "cdb/default+ctx-label",
            "clustered-dreambooth",
            per_group=4,
            policy_params={"prompt": "a photo of {cls}, {ctx}"},
        ),
    ],
}


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", default="screen", choices=sorted(GRIDS))
    p.add_argument("--variants", default="plain,slant")
    p.add_argument("--methods", default=",".join(POLICY))
    p.add_argument("--only", default="", help="comma-separated setting names (default: all)")
    p.add_argument("--classes", default="0,3,5,8")
    p.add_argument("--colours", default="red,green,blue,orange")
    p.add_argument("--train", type=int, default=100, help="train images per class")
    p.add_argument("--bias", type=float, default=0.99)
    p.add_argument("--erm-epochs", type=int, default=3)
    p.add_argument("--scale", type=int, default=1, help="multiply every row's images per target")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workdir", default="/tmp/generator-sweep")
    p.add_argument("--tag", default="")
    p.add_argument("--failures", type=Path, help="write each row's wrong images here (PNG)")
    p.add_argument("--table-only", action="store_true", help="print the recorded rows only")
    return p.parse_args(argv)


# -- the project and its ERM run ---------------------------------------------------------------
def project(args, variant: str):
    from debias_core.data.ingest import create_project
    from debias_core.store import Store

    folder = Path(args.workdir) / f"{variant}-{args.classes}-{args.colours}-{args.train}"
    folder = Path(str(folder).replace(",", "_"))
    if (folder / "project.db").exists():
        return Store.open(folder)
    options = {
        "bias_ratio": args.bias,
        "spurious": "background",
        "style": variant,
        "classes": [int(c) for c in args.classes.split(",")],
        "palette": args.colours.split(","),
        "train_per_class": args.train,
    }
    return create_project(folder, "colored-digits", options=options)


def erm_run(store, epochs: int) -> int:
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    for run in store.list_runs("train"):
        if run.method == "erm" and run.status == "done" and run.config.get("epochs") == epochs:
            return run.id
    return run_training(store, TrainConfig(method="erm", epochs=epochs, seed=0)).run_id


# -- reading a set -------------------------------------------------------------------------------
def reads(store, samples) -> dict:
    """Per image: digit right, colour right (border), and for DBB the colour drawn inside."""
    from debias_core.verify.scorers.judge import load_images

    images = load_images(store, samples)
    colours, digits, probs, backgrounds = judge_read(store, images)
    read_digit = probs.argmax(1)
    out = {
        "digit": read_digit == np.array([digits[s.y] for s in samples]),
        "colour": np.array([colours[s.a] == b for s, b in zip(samples, backgrounds, strict=True)]),
        "read_digit": read_digit.tolist(),
        "read_colour": list(backgrounds),
    }
    if (
        samples
        and samples[0].parent_id is not None
        and store.get_recipe(samples[0].recipe_id).mask_id
    ):
        from dbb_colored_digits import inside_backgrounds

        inside = inside_backgrounds(store, samples)
        out["inside"] = np.array([colours[s.a] == b for s, b in zip(samples, inside, strict=True)])
    return out


def rate(flags: np.ndarray) -> dict:
    from debias_core.evaluate.uncertainty import estimate_dict, wilson_interval

    if not len(flags):
        return {"n": 0}
    return estimate_dict(wilson_interval(int(flags.sum()), len(flags)))


def save_failures(store, samples, read: dict, wrong: np.ndarray, out: Path) -> list[dict]:
    from PIL import Image

    picked = [i for i in np.flatnonzero(wrong)][:32]
    if not picked:
        return []
    tiles = [store.sample_image(samples[i].id).resize((96, 96), Image.NEAREST) for i in picked]
    cols = 8
    sheet = Image.new("RGB", (96 * cols, 96 * (-(-len(tiles) // cols))), "white")
    for k, tile in enumerate(tiles):
        sheet.paste(tile, (96 * (k % cols), 96 * (k // cols)))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    names = store.class_names
    return [
        {
            "id": samples[i].id,
            "class": names[samples[i].y],
            "context": store.attr_names[samples[i].a],
            "read_digit": read["read_digit"][i],
            "read_colour": read["read_colour"][i],
        }
        for i in picked
    ]


# -- one row -------------------------------------------------------------------------------------
def run_setting(args, store, setting: Setting, variant: str) -> dict:
    from debias_core.generate import GenerateConfig
    from debias_core.jobs.foreground import run_generation, run_verify
    from debias_core.store import SampleFilter

    params = dict(setting.params)
    policy_params = dict(setting.policy_params)
    if setting.method == "dbb":
        params["run"] = erm_run(store, args.erm_epochs)
        policy_params["run"] = params["run"]
    config = GenerateConfig(
        method=setting.method,
        per_group=setting.per_group * args.scale,
        steps=setting.steps,
        guidance=setting.guidance,
        seed=0,
        batch_size=16,
        params=params,
    )
    wall, cpu = time.perf_counter(), time.process_time()
    generated = run_generation(store, config)
    gen_wall, gen_cpu = time.perf_counter() - wall, time.process_time() - cpu
    run_verify(store, policy=POLICY[setting.method], params=policy_params, job=generated.job_id)
    samples = store.list_samples(SampleFilter(ids=generated.sample_ids))
    read = reads(store, samples)
    right = read["digit"] & read["colour"]
    accepted = {
        s.id for s in store.list_samples(SampleFilter(ids=generated.sample_ids, status="accepted"))
    }
    kept = np.array([s.id in accepted for s in samples], bool)
    row = {
        "variant": variant,
        "setting": setting.name,
        "method": setting.method,
        "params": setting.params,
        "guidance": setting.guidance,
        "steps": setting.steps,
        "per_group": config.per_group,
        "note": setting.note,
        "job": generated.job_id,
        "images": len(samples),
        "right": rate(right),
        "digit": rate(read["digit"]),
        "colour": rate(read["colour"]),
        "inside": rate(read["inside"]) if "inside" in read else None,
        "policy": POLICY[setting.method],
        "policy_params": setting.policy_params,
        "accepted": int(kept.sum()),
        "accepted_right": rate(right[kept]),
        "rejected_right": rate(right[~kept]),
        "wall_s": gen_wall,
        "cpu_s": gen_cpu,
        "load": os.getloadavg(),
    }
    if args.failures:
        out = args.failures / f"{variant}-{setting.name.replace('/', '_')}.png"
        row["failures"] = save_failures(store, samples, read, ~right, out)
    return row


def real_reference(store, variant: str) -> dict:
    """The judge on the project's real test images: what a generator that drew exactly like
    the data would score (the judge reads slanted digits less well than upright ones)."""
    from debias_core.store import SampleFilter

    samples = store.list_samples(SampleFilter(source="real", split="test"))
    read = reads(store, samples)
    right = read["digit"] & read["colour"]
    return {
        "variant": variant,
        "setting": "real test images (judge check)",
        "method": "real",
        "per_group": 0,
        "images": len(samples),
        "right": rate(right),
        "digit": rate(read["digit"]),
        "colour": rate(read["colour"]),
        "inside": None,
        "policy": "-",
        "accepted": 0,
        "accepted_right": {"n": 0},
        "wall_s": 0.0,
        "cpu_s": 0.0,
    }


# -- the table -----------------------------------------------------------------------------------
def pct(r: dict | None) -> str:
    if not r or not r.get("n"):
        return "-"
    return f"{100 * r['value']:.0f} [{100 * r['low']:.0f}, {100 * r['high']:.0f}]"


def markdown(rows: list[dict]) -> str:
    lines = [
        "| variant | setting | n | right % [95%] | digit % | colour % | inside colour % "
        "| policy keeps | kept right % [95%] | wall s | CPU s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['setting']} | {r['images']} | {pct(r['right'])} "
            f"| {pct(r['digit'])} | {pct(r['colour'])} | {pct(r['inside'])} "
            f"| {r['accepted']} ({r['policy']}) | {pct(r['accepted_right'])} "
            f"| {r['wall_s']:.0f} | {r['cpu_s']:.0f} |"
        )
    return "\n".join(lines)


def load_rows(path: Path) -> list[dict]:
    return json.loads(path.read_text())["rows"] if path.exists() else []


def main(argv=None) -> None:
    import torch

    args = parse(argv)
    out = raw_path("generator_sweep", args.tag)
    rows = load_rows(out)
    if not args.table_only:
        torch.set_num_threads(args.threads)
        only = {n for n in args.only.split(",") if n}
        chosen = [
            s
            for s in GRIDS[args.grid]
            if s.method in args.methods.split(",") and (not only or s.name in only)
        ]
        for variant in args.variants.split(","):
            store = project(args, variant)
            if not any(r["variant"] == variant and r["method"] == "real" for r in rows):
                rows.append(real_reference(store, variant))
            for setting in chosen:
                key = (variant, setting.name, setting.per_group * args.scale)
                if any((r["variant"], r["setting"], r["per_group"]) == key for r in rows):
                    continue
                row = run_setting(args, store, setting, variant)
                print(json.dumps({k: row[k] for k in ("variant", "setting", "images")}
                                 | {"right": row["right"].get("value")}), flush=True)  # fmt: skip
                rows.append(row)
                meta = {"machine": platform.processor() or platform.machine(),
                        "args": {k: str(v) for k, v in vars(args).items()}}  # fmt: skip
                out.write_text(json.dumps(meta | {"rows": rows}, indent=1))
    print(markdown(rows))
    print(f"raw rows: {out}")


if __name__ == "__main__":
    main()
