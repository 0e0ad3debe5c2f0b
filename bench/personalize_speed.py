"""Concepts per hour: many concepts in one batch vs one at a time (CPU, embedded backbone).

Three ways to train the same N per-image concepts (DecoupleGen: object + context tokens, phase 1
tokens, phase 2 tokens + LoRA, masked + cross-attention loss), same steps, same seeds:

- batched: one personalization job, all N concepts in every optimisation step;
- (a) loop: the same job with one concept per unit (an in-process loop, model loaded once);
- (b) processes: one `python` process per concept (import, load the model, train one, save), how
  the public scripts run. This is slow, so it runs for `--processes` concepts and the per-concept
  time is extrapolated (printed as such).

Every mode runs the whole job path (encode images, train, write files and rows). Because each
concept draws from its own generator, the three modes train the same thing: the script prints the
largest difference between their final losses next to the ratios.

    python bench/personalize_speed.py --quick
    python bench/personalize_speed.py --concepts 32 --steps 50 --processes 4 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_common import print_and_save  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="4 concepts, 4 steps, 1 process")
    p.add_argument("--method", default="per-image", help="per-image | textual-inversion | ...")
    p.add_argument("--concepts", type=int, default=32)
    p.add_argument("--steps", type=int, default=50, help="steps per phase")
    p.add_argument("--processes", type=int, default=4, help="concepts run as separate processes")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--backbone", default="embedded")
    p.add_argument("--json", type=Path)
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # (b): the project to use
    p.add_argument("--sample", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.concepts, args.steps, args.processes = 4, 4, 1
    return args


def job_params(args, sample_ids, batch) -> dict:
    return {
        "method": args.method,
        "backbone": args.backbone,
        "samples": list(sample_ids),
        "steps": args.steps,
        "batch": batch,
        "seed": 0,
        "chunk_steps": max(args.steps, 1),
        "params": {"phase2_steps": args.steps} if args.method == "per-image" else {},
    }


def timed_job(store, params) -> tuple[float, dict[str, float]]:
    """(seconds, final loss per concept) of one personalization job."""
    from debias_core.jobs.foreground import run_personalization

    start = time.perf_counter()
    job_id = run_personalization(store, params)
    seconds = time.perf_counter() - start
    return seconds, final_losses(store, job_id)


def final_losses(store, job_id) -> dict[str, float]:
    return {a.concept: a.loss_curve[-1] for a in store.list_artifacts(job_id=job_id)}


def child(args) -> None:
    """Mode (b): everything a one-concept script does, in a fresh process."""
    import torch

    torch.set_num_threads(args.threads)
    from debias_core.store import Store

    store = Store.open(args.child)
    seconds, losses = timed_job(store, job_params(args, [args.sample], 1))
    print(json.dumps({"train_s": seconds, "losses": losses}))


def make_project(folder: Path):
    from debias_core.data.ingest import create_project

    options = {"classes": (0, 1, 2, 3), "train_per_class": 40, "bias_ratio": 0.9}
    return create_project(folder, "colored-digits", options=options)


def run(args) -> dict:
    import torch

    from debias_core.models.cache import cached_backbone
    from debias_core.store import SampleFilter

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="pers-speed-") as tmp:
        store = make_project(Path(tmp) / "proj")
        ids = store.sample_ids(SampleFilter(source="real", split="train"))[: args.concepts]
        cached_backbone(args.backbone)  # loaded once, outside the timings of batched and (a)
        batched_s, batched = timed_job(store, job_params(args, ids, len(ids)))
        loop_s, loop = timed_job(store, job_params(args, ids, 1))
        per_process, process_losses = [], {}
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), HF_HUB_OFFLINE="1")
        for sample in ids[: args.processes]:
            start = time.perf_counter()
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(store.root), "--sample", str(sample)]
                + ["--method", args.method, "--steps", str(args.steps)]
                + ["--threads", str(args.threads), "--backbone", args.backbone],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            per_process.append(time.perf_counter() - start)
            process_losses |= json.loads(out.stdout.strip().splitlines()[-1])["losses"]
    n = len(ids)
    process_s = sum(per_process) / len(per_process) * n  # extrapolated to all n concepts
    diff_a = max(abs(batched[k] - loop[k]) for k in batched)
    diff_b = max(abs(batched[k] - v) for k, v in process_losses.items())
    result = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, torch threads {args.threads}",
        "load_average": os.getloadavg(),
        "method": args.method,
        "concepts": n,
        "steps_per_phase": args.steps,
        "batched_s": batched_s,
        "loop_s": loop_s,
        "process_s_each": per_process,
        "process_s_extrapolated": process_s,
        "concepts_per_hour": {
            "batched": n / batched_s * 3600,
            "loop": n / loop_s * 3600,
            "processes": n / process_s * 3600,
        },
        "ratio_vs_loop": loop_s / batched_s,
        "ratio_vs_processes": process_s / batched_s,
        "max_final_loss_diff_loop": diff_a,
        "max_final_loss_diff_processes": diff_b,
        "mean_final_loss": sum(batched.values()) / n,
    }
    return result


def report(r: dict) -> str:
    rate = r["concepts_per_hour"]
    return "\n".join(
        [
            f"{r['method']}: {r['concepts']} concepts, {r['steps_per_phase']} steps per phase;"
            f" {r['machine']}, load average {r['load_average'][0]:.1f}",
            f"batched:            {r['batched_s']:8.1f} s  {rate['batched']:9.0f} concepts/h",
            f"(a) in-process loop: {r['loop_s']:8.1f} s  {rate['loop']:9.0f} concepts/h"
            f"  -> batched is {r['ratio_vs_loop']:.1f}x",
            f"(b) process each:   {r['process_s_extrapolated']:8.1f} s  {rate['processes']:9.0f}"
            f" concepts/h (mean of {len(r['process_s_each'])} processes x {r['concepts']})"
            f"  -> batched is {r['ratio_vs_processes']:.1f}x",
            f"same training: final losses differ by at most {r['max_final_loss_diff_loop']:.2e}"
            f" (loop) and {r['max_final_loss_diff_processes']:.2e} (processes);"
            f" mean final loss {r['mean_final_loss']:.4f}",
        ]
    )


def main(argv=None) -> dict | None:
    args = parse_args(argv)
    if args.child:
        child(args)
        return None
    result = run(args)
    print_and_save(report(result), result, args.json)
    return result


if __name__ == "__main__":
    main()
