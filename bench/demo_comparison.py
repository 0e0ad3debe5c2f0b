"""The demo's clicks, timed: a fresh app on a fresh demo project, then the Train & Evaluate tab's
"Run demo comparison" button (issue 16 item 7).

Starts `python app.py --project DIR` as a child process (it creates the Colored Digits demo
project, as `./run.sh` does on a fresh machine), drives it through gradio_client exactly as the
page does (open the tab, press the button, poll the jobs panel until the comparison is done, read
the comparison view), and reports the CPU time of the app process and its children (user + sys,
from /proc: robust to other work on a shared machine, unlike wall time), the wall time and the
load average, for the start-up (project creation included) and for the comparison itself.

    python bench/demo_comparison.py --threads 1                # the preset, as the button runs it
    python bench/demo_comparison.py --threads 1 --seeds 0,1,2  # a lift paired by seed
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def parse_args(argv=None) -> argparse.Namespace:
    from debias_core.jobs.comparison import DEMO

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--project", type=Path, help="project folder (default: a fresh temp folder)")
    p.add_argument("--threads", type=int, default=0, help="the app's --threads (0: torch's)")
    p.add_argument("--per-group", type=int, default=DEMO.per_group)
    p.add_argument("--epochs", type=int, default=DEMO.epochs)
    p.add_argument("--seeds", default=",".join(map(str, DEMO.seeds)))
    p.add_argument("--augment", default=DEMO.augment, help="both sides' image augmentation")
    p.add_argument("--timeout", type=float, default=4 * 3600, help="seconds to wait for the job")
    return p.parse_args(argv)


def cpu_seconds(pid: int) -> float:
    """user + sys of `pid` and every live descendant, plus the children they have waited for."""
    total, todo, seen = 0.0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICK  # utime stime cutime cstime
        children = Path(f"/proc/{current}/task/{current}/children")
        if children.exists():
            todo += [int(c) for c in children.read_text().split()]
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect(url: str, app: subprocess.Popen, timeout: float = 1800.0):
    import gradio_client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.poll() is not None:
            raise SystemExit(f"the app exited with {app.returncode}")
        try:
            return gradio_client.Client(url, verbose=False, download_files=False)
        except Exception:  # noqa: BLE001  (not answering yet)
            time.sleep(2.0)
    raise SystemExit(f"the app did not answer within {timeout:.0f} s")


def wait_comparison(client, timeout: float) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, table, _ = client.predict(api_name="/compare_jobs_poll")
        newest = table["data"][0]
        if newest[2] not in ("queued", "running"):
            return newest
        time.sleep(5.0)
    raise SystemExit(f"the comparison was still running after {timeout:.0f} s")


def main(argv=None) -> dict:
    args = parse_args(argv)
    project = args.project or Path(tempfile.mkdtemp(prefix="demo-comparison-")) / "demo-project"
    port = free_port()
    command = [sys.executable, str(ROOT / "app.py"), "--project", str(project), "--port", str(port)]
    command += ["--threads", str(args.threads)] if args.threads else []
    print(f"load {os.getloadavg()[0]:.1f}; {' '.join(command)}", flush=True)
    start, load_start = time.perf_counter(), os.getloadavg()[0]
    app = subprocess.Popen(command, cwd=ROOT)
    try:
        client = connect(f"http://127.0.0.1:{port}/", app)
        client.predict(api_name="/train_open")  # the page opens the Train & Evaluate tab
        ready_cpu, ready_wall = cpu_seconds(app.pid), time.perf_counter() - start
        print(f"ready: {ready_cpu:.0f} CPU s, {ready_wall:.0f} s wall", flush=True)
        note, *_ = client.predict(
            args.per_group, args.epochs, args.seeds, args.augment, api_name="/compare_submit"
        )
        print(note, flush=True)
        row = wait_comparison(client, args.timeout)
        _, summary, _ = client.predict(None, api_name="/compare_after_poll")
        done_cpu, done_wall = cpu_seconds(app.pid), time.perf_counter() - start
    finally:
        app.send_signal(signal.SIGTERM)
        app.wait(60)
    result = {
        "status": row[2],
        "startup_cpu_s": ready_cpu,
        "startup_wall_s": ready_wall,
        "comparison_cpu_s": done_cpu - ready_cpu,
        "comparison_wall_s": done_wall - ready_wall,
        "total_cpu_s": done_cpu,
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
        "summary": summary,
    }
    print(
        f"\ncomparison job: {row[2]}; start-up (project created): {ready_cpu:.0f} CPU s, "
        f"{ready_wall:.0f} s wall; the comparison: {done_cpu - ready_cpu:.0f} CPU s "
        f"({(done_cpu - ready_cpu) / 60:.1f} CPU min), {done_wall - ready_wall:.0f} s wall; "
        f"total {done_cpu / 60:.1f} CPU min; load {load_start:.1f} -> {result['load_end']:.1f}"
        f"\n\n{summary}",
        flush=True,
    )
    return result


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
