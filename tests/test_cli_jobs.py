"""`jobs DIR` from the command line, and generation runs that are stopped and run again.

The interrupted runs are real processes: `python -m debias_core generate` stopped with Ctrl-C
(SIGINT) or killed with SIGKILL after a few finished units, then resumed; the project must end
with exactly one sample per (group, index), never a duplicate.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from live_app import ROOT, make_tiny_project, save_dummy_backbone

from debias_core.cli import main
from debias_core.store import SampleFilter, Store

PER_GROUP = 2  # x 4 groups, one image a unit: 8 units
STEPS = 25  # ~0.1-0.5 s a unit on the dummy backbone: time to stop it mid-job


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    return str(save_dummy_backbone(tmp_path_factory.mktemp("backbone") / "dummy"))


def generate_argv(project, backbone) -> list[str]:
    return [
        "generate",
        str(project),
        "--backbone",
        backbone,
        "--per-group",
        str(PER_GROUP),
        "--batch-size",
        "1",
        "--steps",
        str(STEPS),
    ]


def start(argv: list[str]) -> subprocess.Popen:
    """The CLI as a terminal would start it: with Ctrl-C (SIGINT) at its default action.

    A command started in the background by a non-interactive shell (`./test.sh &`, CI runners)
    inherits SIGINT *ignored*, and Python then never raises KeyboardInterrupt: the job runs to its
    end and exits 0. That, not a late Ctrl-C, failed this test on a loaded machine.
    """
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    return subprocess.Popen(
        [sys.executable, "-m", "debias_core", *argv],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


# Generous: at load 13-15 on 2 cores the CLI took over 120 s to start and finish its first unit.
UNIT_WAIT_S = 600


def wait_for_units(
    store: Store, proc: subprocess.Popen, n: int, timeout: float = UNIT_WAIT_S
) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = store.list_jobs()
        if jobs and store.units_done(jobs[0].id) >= n:
            return jobs[0].id
        if proc.poll() is not None:
            raise AssertionError(f"generate exited early: {proc.communicate()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"fewer than {n} units after {timeout} s: {proc.communicate()}")


def assert_one_sample_per_image(store: Store, job_id: int) -> None:
    rows = store.query(
        "select s.y, s.a, r.seed, count(*) as n from samples s join recipes r"
        " on r.id = s.recipe_id where s.job_id = ? group by s.y, s.a, r.seed",
        [job_id],
    )
    assert len(rows) == 4 * PER_GROUP and {r["n"] for r in rows} == {1}, rows
    assert store.count_samples(SampleFilter(source="generated")) == 4 * PER_GROUP
    assert store.units_done(job_id) == 4 * PER_GROUP


@pytest.fixture
def sigint_ignored_here():
    """This test process ignores SIGINT, as one started by `./test.sh &` does (see `start`)."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.slow
def test_ctrl_c_marks_the_job_interrupted_and_jobs_resume_finishes_it(
    tmp_path, backbone, capsys, sigint_ignored_here
):
    store = make_tiny_project(tmp_path / "p")
    proc = start(generate_argv(store.root, backbone))
    # Ctrl-C after the first finished unit: 7 units (>= 25 denoising steps each) are left, so
    # the job cannot end before the signal lands; the timeouts are only there to never hang.
    job_id = wait_for_units(store, proc, 1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"jobs {store.root} --resume {job_id}" in err and "Traceback" not in err
    job = store.get_job(job_id)
    assert job.status == "interrupted" and "Ctrl-C" in job.message
    done_before = store.units_done(job_id)
    assert 1 <= done_before < 4 * PER_GROUP

    assert main(["jobs", str(store.root), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(j["id"], j["status"], j["units_done"]) for j in listed] == [
        (job_id, "interrupted", done_before)
    ]
    assert main(["jobs", str(store.root), "--resume", str(job_id)]) == 0
    out, err = capsys.readouterr()
    assert f"job {job_id} done" in out and f"({done_before}/8 units already done)" in err
    assert_one_sample_per_image(store, job_id)


@pytest.mark.slow
def test_sigkill_then_the_same_generate_resumes_without_duplicates(tmp_path, backbone, capsys):
    store = make_tiny_project(tmp_path / "p")
    proc = start(generate_argv(store.root, backbone))
    job_id = wait_for_units(store, proc, 2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert store.get_job(job_id).status == "running"  # what the killed process left behind

    assert main(generate_argv(store.root, backbone)) == 0  # the very same command again
    out, err = capsys.readouterr()
    assert f"resuming generate job {job_id}, which has the same settings" in err
    assert "generated 8 images" in out
    assert len(store.list_jobs()) == 1
    assert_one_sample_per_image(store, job_id)

    assert main(generate_argv(store.root, backbone)) == 0  # once more: nothing to do
    assert "already finished" in capsys.readouterr().err
    assert_one_sample_per_image(store, job_id)


def test_jobs_lists_cancels_and_refuses_clearly(tiny_project, capsys):
    store = tiny_project
    assert main(["jobs", str(store.root)]) == 0
    assert "no jobs" in capsys.readouterr().out
    lost = store.create_job("generate", {"per_group": 1}, owner='{"host": "x", "pid": 1}')
    store.update_job(lost, status="interrupted", units_total=4)
    done = store.create_job("train", {"method": "erm"})
    store.update_job(done, status="done", error="")
    assert main(["jobs", str(store.root)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["id", "kind", "status", "progress", "units", "executor",
                                "started", "finished", "note"]  # fmt: skip
    assert table[1].split()[:3] == [str(done), "train", "done"]
    assert table[2].split()[:6] == [str(lost), "generate", "interrupted", "0%", "0/4", "local"]
    assert main(["jobs", str(store.root), "--cancel", str(lost)]) == 0
    assert store.get_job(lost).status == "cancelled"
    for argv, message in [
        (["--cancel", str(done)], f"job {done} is done; only unfinished jobs"),
        (["--resume", str(done)], f"job {done} is done; only"),
        (["--resume", "999"], "no job with id 999"),
        (["--resume", "0"], "must be an integer >= 1"),
        (["--resume", "1", "--cancel", "1"], "not allowed with argument"),
    ]:
        capsys.readouterr()
        assert main(["jobs", str(store.root), *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and message in err[0], err


def test_generate_refuses_a_billion_images_before_any_job(tiny_project, capsys):
    argv = ["generate", str(tiny_project.root), "--per-group", "1000000000"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "per_group 1000000000 is over the limit of 100000" in err
    assert "--max-per-group" in err and tiny_project.list_jobs() == []
