"""The app as a real server process, for the browser and reliability tests.

Each test makes a fresh tiny project and a diffusers-format copy of the dummy backbone (saved
from `dummy_backbone()`, so nothing is downloaded), then runs `python app.py` on them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_tiny_project(root: Path):
    """The 2-class, 2-colour Colored Digits project of conftest (4 groups)."""
    from conftest import TINY_DIGITS

    from debias_core.data.ingest import create_project

    return create_project(root, "colored-digits", options=dict(TINY_DIGITS))


def save_dummy_backbone(folder: Path) -> Path:
    """The tiny random backbone as a diffusers folder that `load_backbone(str(folder))` reads."""
    from debias_core.models.dummy import dummy_backbone

    dummy_backbone(seed=0).txt2img_pipeline().save_pretrained(folder)
    return folder


class AppProcess:
    """`python app.py --project DIR` on a free port; `start()` returns once the page answers."""

    def __init__(
        self, project: Path, log: Path, reviewer: str = "tester", extra_args: tuple = ()
    ) -> None:
        self.project, self.log, self.reviewer = Path(project), Path(log), reviewer
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> AppProcess:
        env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
        env["OMP_NUM_THREADS"] = "1"  # tiny models: one thread is fastest on a shared machine
        cmd = [sys.executable, str(ROOT / "app.py"), "--project", str(self.project)]
        cmd += ["--port", str(self.port), "--reviewer", self.reviewer, *self.extra_args]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=out)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(self.url, timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"app not answering after {timeout} s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL: no clean-up, as in a crash or a power cut."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""
