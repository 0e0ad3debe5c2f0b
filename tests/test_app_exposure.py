"""The app is exposed only on purpose, and stopping it leaves its jobs resumable (real processes).

- `--host` other than a loopback address without `--auth` refuses to start, naming the flags.
- `--insecure-no-auth` starts anyway and warns; Gradio's "set share=True" hint is not printed.
- SIGTERM (what `kill` and service managers send) marks the app's running job interrupted.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from live_app import ROOT, AppProcess, make_tiny_project, save_dummy_backbone

gradio_client = pytest.importorskip("gradio_client")


def test_a_non_loopback_host_without_auth_refuses_to_start(tmp_path):
    result = subprocess.run(
        [sys.executable, "app.py", "--project", str(tmp_path / "p"), "--host", "0.0.0.0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --host 0.0.0.0"), lines
    assert "--auth user:password" in lines[0] and "--insecure-no-auth" in lines[0]
    assert not (tmp_path / "p").exists()  # refused before the demo project is created


@pytest.mark.slow
def test_insecure_start_warns_and_sigterm_interrupts_the_running_job(tmp_path):
    store = make_tiny_project(tmp_path / "p")
    backbone = str(save_dummy_backbone(tmp_path / "backbone"))
    log = tmp_path / "app.log"
    app = AppProcess(store.root, log, extra_args=("--host", "0.0.0.0", "--insecure-no-auth"))
    app.start()
    try:
        client = gradio_client.Client(app.url, verbose=False, download_files=False)
        args = ("txt2img", backbone, ["0,0", "1,1"], 8, 0, 100, 2.0, 1)
        assert "Queued generation job" in client.predict(*args, api_name="/generate_submit")[0]
        job_id = store.list_jobs()[0].id
        deadline = time.monotonic() + 120
        while store.units_done(job_id) < 1:
            assert time.monotonic() < deadline, "no unit finished"
            time.sleep(0.1)
    finally:
        app.stop()  # SIGTERM
    job = store.get_job(job_id)
    assert job.status == "interrupted" and "app stopped" in job.message
    text = log.read_text()
    assert "warning: serving on 0.0.0.0 without a login (--insecure-no-auth)" in text
    assert "Debias Studio running on" in text
    assert "share=True" not in text and "public link" not in text
    assert f"job(s) [{job_id}] interrupted" in text
