"""Sizes, ranges and devices are checked before anything is queued; a NaN loss fails its job.

Size-like parameters are held to limits.py and every float must be finite and in the range its
field declares (one rule, `params.check_values` / `check_limits`, for the CLI and the app's
submit path). A refusal is one `error:` line with exit status 2 (CLI) or a ValueError from the
app's executor, and leaves the job table empty. The CLI tests replace the job runner by one that
reports "failed", so code that queued the job anyway fails the test at once instead of running a
10^9-step job.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re

import pytest
import torch

from debias_core.cli import main
from debias_core.jobs import LocalExecutor
from debias_core.limits import JobLimits

HUGE = "1000000000"


@pytest.fixture
def no_runs(monkeypatch):
    """A job that gets queued "fails" at once instead of running (see the module docstring)."""
    monkeypatch.setattr("debias_core.jobs.foreground.run_job", lambda *a, **k: "failed")


def refused(store, capsys, argv: list[str], message: str) -> None:
    capsys.readouterr()
    assert main([a.replace("{p}", str(store.root)) for a in argv]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    assert message in lines[0], lines
    assert store.list_jobs() == []


def app_refuses(store, kind: str, params: dict, message: str) -> None:
    """The app's submit path (every tab calls the executor) refuses with the message."""
    executor = LocalExecutor(store)
    executor._enqueue = lambda job_id: None  # queue, never run
    with pytest.raises(ValueError, match=message):
        executor.submit(kind, params)
    assert store.list_jobs() == []


TI = ["personalize", "{p}", "--method", "textual-inversion", "--classes", "0"]
CDB = ["generate", "{p}", "--method", "clustered-dreambooth", "--param"]
TI_APP = {"method": "textual-inversion", "classes": [0], "steps": 2}


# -- item 4: sizes --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([*TI, "--steps", HUGE], f"parameter steps {HUGE} is over the limit of 1000"),
        ([*TI, "--batch", "100000"], "parameter batch 100000 is over the limit of 256"),
        ([*TI, "--param", f"samples_per_class={HUGE}"], "parameter samples_per_class"),
        ([*CDB, f"train_steps={HUGE}"], f"parameter train_steps {HUGE} is over the limit of 1000"),
        ([*CDB, "clusters=5000"], "parameter clusters 5000 is over the limit of 1000"),
        (
            ["generate", "{p}", "--method", "decouplegen", "--param", f"personalize_steps={HUGE}"],
            "parameter personalize_steps",
        ),
    ],
)
def test_cli_refuses_sizes_over_the_limits(tiny_project, capsys, no_runs, argv, message):
    refused(tiny_project, capsys, argv, message)


def test_app_refuses_sizes_over_the_limits(tiny_project):
    app_refuses(tiny_project, "personalize", {**TI_APP, "steps": 10**9}, "over the limit of 1000")
    huge_k = {"method": "textual-inversion", "classes": [0], "params": {"samples_per_class": 10**6}}
    app_refuses(tiny_project, "personalize", huge_k, "samples_per_class 1000000 is over")
    cdb = {"method": "clustered-dreambooth", "params": {"train_steps": 10**9}}
    app_refuses(tiny_project, "generate", cdb, "train_steps 1000000000 is over the limit")


def test_a_raised_limit_lets_the_size_through(tiny_project, monkeypatch):
    """The limit, not a hard-coded number, refuses: DEBIAS_STUDIO_LIMITS raises it."""
    monkeypatch.setenv("DEBIAS_STUDIO_LIMITS", "steps=5000")
    executor = LocalExecutor(tiny_project)
    executor._enqueue = lambda job_id: None
    assert executor.submit("personalize", {**TI_APP, "steps": 4000})
    assert executor.limits == JobLimits(steps=5000)


def all_parameter_classes() -> dict[str, object]:
    """The default parameters of every method and the job configs, by a readable name."""
    from debias_core.analysis.embeddings import EmbedConfig
    from debias_core.cli.verify import method_defaults
    from debias_core.generate import GenerateConfig
    from debias_core.jobs.comparison import ComparisonConfig
    from debias_core.personalize.base import PersonalizeConfig
    from debias_core.train import TrainConfig

    out = {
        f"{kind} {name}": params
        for kind, methods in method_defaults().items()
        for name, params in methods.items()
    }
    configs = (GenerateConfig, PersonalizeConfig, TrainConfig, EmbedConfig, ComparisonConfig)
    for config in (make() for make in configs):
        out[type(config).__name__] = config
    return out


SIZE_LIKE = re.compile(r"steps|samples|clusters|^k$|^m$|per_group|per_class|batch|images")


def test_every_size_like_parameter_names_its_limit():
    """A new method's `foo_steps` without a limit fails here, not in a user's 10^9-step job."""
    missing = []
    for owner, params in all_parameter_classes().items():
        for f in dataclasses.fields(params):
            size_like = SIZE_LIKE.search(f.name) and not f.name.startswith("min_")
            declared = "limit" in f.metadata or "range" in f.metadata
            if size_like and type(getattr(params, f.name)) in (int, type(None)) and not declared:
                missing.append(f"{owner}.{f.name}")
    assert missing == []
    assert len(all_parameter_classes()) > 15  # every registry was read


# -- item 6: finite numbers in declared ranges ---------------------------------------------------
def test_every_float_parameter_declares_its_range():
    missing = [
        f"{owner}.{f.name}"
        for owner, params in all_parameter_classes().items()
        for f in dataclasses.fields(params)
        if isinstance(getattr(params, f.name), float) and "range" not in f.metadata
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([*TI, "--param", "lr=nan"], "parameter lr must be a finite number, got nan"),
        ([*TI, "--param", "lr=inf"], "parameter lr must be a finite number, got inf"),
        ([*TI, "--param", "lr=5"], "parameter lr must be in [0.0, 1.0], got 5.0"),
        ([*TI, "--param", "weight_decay=-1"], "parameter weight_decay must be in [0.0, 1.0]"),
        (
            ["personalize", "{p}", "--method", "per-image", "--samples", "1",
             "--param", "attention_weight=nan"],
            "parameter attention_weight must be a finite number, got nan",
        ),
        (
            ["generate", "{p}", "--method", "diffinject", "--param", "gamma=nan"],
            "parameter gamma must be a finite number",
        ),
        (
            ["verify", "{p}", "--policy", "judge", "--param", "accept_at=inf"],
            "parameter accept_at must be a finite number",
        ),
    ],
)  # fmt: skip
def test_cli_refuses_non_finite_and_out_of_range_floats(
    tiny_project, capsys, no_runs, argv, message
):
    refused(tiny_project, capsys, argv, message)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--epochs", HUGE], f"parameter epochs must be in [1, 10000], got {HUGE}"),
        (["--params", '{"eta": NaN}'], "params eta must be a finite number, got nan"),
        (["--params", f'{{"jtt_epochs": {HUGE}}}'], "params jtt_epochs must be an integer in"),
    ],
)
def test_training_refuses_absurd_epochs_and_nan(tiny_project, capsys, monkeypatch, argv, message):
    def ran(*args, **kwargs):
        raise RuntimeError("the training ran")

    monkeypatch.setattr("debias_core.train.run.run_training", ran)
    refused(tiny_project, capsys, ["train", "{p}", *argv], message)
    assert tiny_project.list_runs() == []
    app_refuses(tiny_project, "train", {"method": "erm", "params": {"eta": math.nan}}, "eta")


def test_app_refuses_nan_and_a_200_kb_number(tiny_project):
    from ui.personalize import personalize_params

    def params(text: str) -> dict:
        return personalize_params(
            "textual-inversion", "embedded", "classes", ["0"], [], "", 2, 4, 0, text
        )

    app_refuses(tiny_project, "personalize", params("lr = nan"), "lr must be a finite number")
    app_refuses(tiny_project, "personalize", params("lr = " + "9" * 200_000), "lr must be")
    app_refuses(tiny_project, "personalize", params("rank = 100000"), "rank must be in")


def test_ranges_are_shown_by_methods_json(capsys):
    assert main(["methods", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    lr = {f["name"]: f for f in table["personalizers"]["textual-inversion"]}["lr"]
    assert lr["range"] == [0.0, 1.0]
    train_steps = {f["name"]: f for f in table["generators"]["clustered-dreambooth"]}["train_steps"]
    assert train_steps["limit"] == "steps"
    # ... and by the app's method forms, next to each field's help
    from debias_core.generate.diffinject import DiffInjectParams
    from debias_core.params import form_fields

    gamma = {f.name: f for f in form_fields(DiffInjectParams())}["gamma"]
    assert gamma.bounds == "in [0.0, 1.0]"


def test_check_values_reads_the_declared_range():
    from debias_core.generate.diffinject import DiffInjectParams
    from debias_core.params import check_values

    check_values(DiffInjectParams(gamma=1.0))
    with pytest.raises(ValueError, match=r"gamma must be in \[0.0, 1.0\], got 1.5"):
        check_values(DiffInjectParams(gamma=1.5))


# -- item 6: a non-finite loss fails the job -------------------------------------------------------
def test_a_nan_loss_fails_the_training_job(tiny_project, monkeypatch):
    from debias_core.jobs.foreground import run_now
    from debias_core.train import loop

    def nan_cross_entropy():
        def loss(logits, features, batch, idx):
            return torch.nn.functional.cross_entropy(logits, batch.y) * float("nan")

        return loss

    monkeypatch.setattr(loop, "cross_entropy", nan_cross_entropy)
    with pytest.raises(RuntimeError, match="failed"):
        run_now(tiny_project, "train", {"method": "erm", "epochs": 1, "batch_size": 64})
    (job,) = tiny_project.list_jobs()
    assert job.status == "failed"
    assert "NonFiniteLoss" in job.error and "epoch 1: the loss is [nan]" in job.error


def test_a_nan_loss_fails_the_personalization_job(tiny_project, backbone_dir, monkeypatch):
    from debias_core.jobs.foreground import run_now
    from debias_core.personalize import loop

    real = loop._step_losses
    monkeypatch.setattr(loop, "_step_losses", lambda *a, **k: real(*a, **k) * float("nan"))
    params = {**TI_APP, "backbone": backbone_dir, "chunk_steps": 1}
    params["params"] = {"samples_per_class": 2}
    with pytest.raises(RuntimeError, match="failed"):
        run_now(tiny_project, "personalize", params)
    (job,) = tiny_project.list_jobs()
    assert job.status == "failed" and "the loss is [nan]" in job.error
    assert tiny_project.list_artifacts(job_id=job.id) == []  # no NaN token was saved


# -- item 7: refused before a job row is written -------------------------------------------------
def add_generated(store, n: int = 2) -> None:
    import numpy as np

    from debias_core.store import GeneratedImage, Recipe

    recipe = Recipe(method="txt2img", backbone_id="dummy", backbone_hash="0", seed=0)
    image = GeneratedImage(np.zeros((32, 32, 3), np.uint8), 0, 1, recipe)
    store.add_generated_unit(None, None, [image] * n)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["embed", "{p}", "--device", "bogus"], "device 'bogus' is not a torch device"),
        (["verify", "{p}", "--device", "bogus"], "device 'bogus' is not a torch device"),
        (["distance", "{p}", "--device", "cuda:x"], "is not a torch device"),
        ([*TI, "--device", "cuda:99"], "device 'cuda:99'"),
        ([*TI, "--backbone", "/etc"], "backbone folder '/etc' is not a diffusers-format model"),
        (
            ["personalize", "{p}", "--method", "group-lora", "--groups", "0,0",
             "--param", "prompt={nope}"],
            "prompt '{nope}' may only use the placeholders {cls}, {ctx}",
        ),
        (
            [*TI, "--param", "templates=a {token} of {what}"],
            "may only use the placeholders {cls}, {ctx}, {token}",
        ),
        (["distance", "{p}", "--reference", "nope"], "reference_split must be one of ['train', "),
        (
            ["verify", "{p}", "--policy", "judge", "--param", "weights=/etc/passwd"],
            "weights /etc/passwd is not a digit judge safetensors file",
        ),
    ],
)  # fmt: skip
def test_cli_refuses_before_queuing(tiny_project, capsys, no_runs, argv, message):
    add_generated(tiny_project)  # so verify has something to score
    refused(tiny_project, capsys, argv, message)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_a_missing_gpu_is_refused_before_queuing(tiny_project, capsys, no_runs):
    refused(tiny_project, capsys, [*TI, "--device", "cuda"], "no CUDA GPU is available here")


def test_app_refuses_before_queuing(tiny_project):
    from debias_core.analysis.distance_report import DistanceConfig
    from ui.state import make_context

    add_generated(tiny_project)
    with pytest.raises(ValueError, match="device 'bogus' is not a torch device"):
        make_context(tiny_project.root, device="bogus", create=False)
    verify = {"policy": "judge", "params": {"weights": "/etc/passwd"}}
    app_refuses(tiny_project, "verify", verify, "is not a digit judge safetensors file")
    backbone = {**TI_APP, "backbone": "/etc"}
    app_refuses(tiny_project, "personalize", backbone, "is not a diffusers-format model")
    group = {"method": "group-lora", "groups": [[0, 0]], "params": {"prompt": "{nope}"}}
    app_refuses(tiny_project, "personalize", group, "may only use the placeholders")
    with pytest.raises(ValueError, match="reference_split must be one of"):
        DistanceConfig(reference_split="nope").check_inputs()


def test_dbb_refuses_a_missing_segment_job(tiny_project, capsys, no_runs):
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    run = run_training(tiny_project, TrainConfig(method="erm", epochs=1, batch_size=32)).run_id
    argv = ["generate", "{p}", "--method", "dbb", "--run", str(run), "--param", "masks=999"]
    refused(tiny_project, capsys, argv, "dbb: there is no job 999 (--param masks=JOB)")
