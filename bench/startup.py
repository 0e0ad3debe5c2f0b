"""Start-up of the app as a user meets it: seconds from `python app.py` to the page answering.

The first start creates the Colored Digits demo project (rendering and importing 9,000 images);
later starts open it. Prints the machine's load average with the times, because on a shared
machine the load decides most of the wall time.

python bench/startup.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seconds_to_answer(project: Path) -> float:
    """Start the app on `project`, wait for HTTP 200 on its page, stop it; the wait in seconds."""
    port = free_port()
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--project", str(project), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"app exited with status {proc.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}", timeout=1).status_code == 200:
                    return time.monotonic() - start
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="starts in all, the first creates")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="startup-"))
    try:
        for run in range(args.runs):
            what = "first start (creates the demo)" if run == 0 else f"start {run + 1}"
            seconds = seconds_to_answer(folder / "demo")
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            print(f"{what}: {seconds:.1f} s (load average {load}; {os.cpu_count()} CPUs)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
