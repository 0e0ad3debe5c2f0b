"""Run a registered training method end to end: load data, train, evaluate, record the run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from debias_core.evaluate.multilabel import MultiLabelReport, build_multilabel_report
from debias_core.evaluate.report import EvalReport, build_report
from debias_core.models.classifiers import ClassifierSpec, create_classifier
from debias_core.store import SampleFilter, Store
from debias_core.train.base import (
    TRAIN_METHODS,
    Progress,
    TrainConfig,
    TrainContext,
    TrainData,
    describe_synthetic,
    set_aside_filter,
    synthetic_filter,
)
from debias_core.train.loop import predict
from debias_core.train.multilabel import NEEDS_LABEL_SETS, is_multilabel_method, predict_scores
from debias_core.train.tensors import load_tensors


@dataclass(frozen=True)
class TrainResult:
    run_id: int
    report: EvalReport | None  # None for a multi-label run whose labels are not the classes
    history: list[dict]
    run_dir: Path
    synthetic_ids: list[int]
    set_aside: int = 0  # generated samples left out: a judge reads them in another group
    multilabel: MultiLabelReport | None = None  # a multi-label method's mAPs and bias scores


def load_train_data(store: Store, config: TrainConfig) -> TrainData:
    """Real splits + the generated samples `config.synthetic` selects, as tensors."""
    size = config.image_size

    multilabel = store.is_multilabel()

    def real(split: str):
        return load_tensors(store, SampleFilter(source="real", split=split), size, multilabel)

    where = synthetic_filter(config)
    synthetic = None if where is None else load_tensors(store, where, size, multilabel)
    meta = store.meta()
    return TrainData(
        real("train"),
        real("val"),
        real("test"),
        synthetic,
        n_classes=len(meta["class_names"]),
        n_attrs=len(meta["attr_names"]),
        aligned_attrs=store.aligned_attrs(),
        label_names=tuple(store.label_names()),
        pairs=tuple((p.b, p.c) for p in store.pairs_for_study()),
    )


def check_method_fits(store: Store, config: TrainConfig) -> None:
    """A multi-label method on a single-label project is refused before a job is queued."""
    if is_multilabel_method(TRAIN_METHODS.get(config.method)) and not store.is_multilabel():
        raise ValueError(f"{config.method} {NEEDS_LABEL_SETS}")


def output_count(store: Store, config: TrainConfig) -> int:
    """One output per label for a multi-label method, else one per class."""
    if is_multilabel_method(TRAIN_METHODS.get(config.method)):
        return len(store.label_names())
    return len(store.class_names)


def evaluate(model, data: TrainData, split: str, store: Store, device) -> EvalReport:
    tensors = getattr(data, split)
    preds = predict(model, tensors, device).argmax(1)
    aligned = np.array([data.aligned_attrs.get(c, -1) for c in range(data.n_classes)])
    return build_report(
        preds, tensors.y.numpy(), tensors.a.numpy(), store.class_names, store.attr_names, aligned
    )


def evaluate_multilabel(
    model, data: TrainData, store: Store, config: TrainConfig, device
) -> tuple[EvalReport | None, MultiLabelReport]:
    """The multi-label report on test; where the first labels are the classes (the embedded
    demo), also the usual per-group report of the class read as the best-scoring class label."""
    scores = predict_scores(model, data.test, device)
    report = build_multilabel_report(
        scores, data.test.targets.numpy(), data.label_names, data.pairs, seed=config.seed
    )
    n = data.n_classes
    if list(data.label_names[:n]) != store.class_names:
        return None, report
    aligned = np.array([data.aligned_attrs.get(c, -1) for c in range(n)])
    preds = scores[:, :n].argmax(1)
    single = build_report(
        preds, data.test.y.numpy(), data.test.a.numpy(), store.class_names, store.attr_names,
        aligned,
    )  # fmt: skip
    return single, report


def check_synthetic(store: Store, config: TrainConfig) -> None:
    """The generated samples a run asks for exist: an empty selection or a wrong job id is
    refused before a job is queued or any data is loaded."""
    if config.synthetic_job is not None:
        try:
            job = store.get_job(config.synthetic_job)
        except KeyError:
            raise ValueError(f"no job {config.synthetic_job} in this project") from None
        if job.kind != "generate":
            raise ValueError(f"job {job.id} is a {job.kind} job, not a generation job")
    where = synthetic_filter(config)
    if where is not None and not store.count_samples(where):
        aside = set_aside_count(store, config)
        why = f" ({aside} set aside: a judge reads them in another group)" if aside else ""
        raise ValueError(f"no {describe_synthetic(config)} in the project to train on{why}")


def set_aside_count(store: Store, config: TrainConfig) -> int:
    """How many generated samples the run sets aside because a judge disagrees."""
    where = set_aside_filter(config)
    return 0 if where is None else store.count_samples(where)


def run_training(
    store: Store,
    config: TrainConfig,
    device: str | torch.device = "cpu",
    progress: Progress | None = None,
    job_id: int | None = None,
) -> TrainResult:
    """Train `config.method`, evaluate on test, and record everything under runs/<id>/."""
    method = TRAIN_METHODS.get(config.method)  # fails fast on an unknown name
    device = torch.device(device)
    check_method_fits(store, config)
    check_synthetic(store, config)
    data = load_train_data(store, config)
    set_aside = set_aside_count(store, config)
    if set_aside:
        (progress or (lambda f, m: None))(0.0, f"{set_aside} generated samples set aside")
    spec = ClassifierSpec(
        config.arch, output_count(store, config), config.pretrained, config.image_size
    )
    run_id = store.create_run("train", config.method, asdict(config), job_id=job_id)
    run_dir = store.root / "runs" / f"{run_id:04d}"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(asdict(config), indent=2))
    ctx = TrainContext(
        data,
        config,
        device,
        lambda: create_classifier(spec, config.seed),
        progress or (lambda f, m: None),
        lambda rid: run_model_like(store, rid, config, device),
    )
    try:
        torch.manual_seed(config.seed)  # dropout / augmentation randomness inside methods
        result = method(ctx)
        if is_multilabel_method(method):
            report, multilabel = evaluate_multilabel(result.model, data, store, config, device)
        else:
            report, multilabel = evaluate(result.model, data, "test", store, device), None
    except BaseException as exc:
        store.finish_run(
            run_id, {"error": str(exc)}, status="failed", run_dir=store.relative(run_dir)
        )
        raise
    save_file(
        {k: v.detach().cpu().contiguous() for k, v in result.model.state_dict().items()},
        str(run_dir / "model.safetensors"),
    )
    metrics = {
        "test": {} if report is None else report.to_dict(),
        "history": result.history,
        "set_aside": set_aside,
    }
    if multilabel is not None:
        metrics["multilabel"] = multilabel.to_dict()
    (run_dir / "report.json").write_text(json.dumps(metrics, indent=2))
    store.finish_run(run_id, metrics, result.synthetic_ids, run_dir=store.relative(run_dir))
    return TrainResult(
        run_id, report, result.history, run_dir, result.synthetic_ids, set_aside, multilabel
    )


def load_run_model(store: Store, run_id: int, device="cpu"):
    """Rebuild a finished run's classifier from its config and safetensors checkpoint."""
    from safetensors.torch import load_file

    run = store.get_run(run_id)
    config = TrainConfig(**run.config)
    spec = ClassifierSpec(config.arch, output_count(store, config), None, config.image_size)
    model = create_classifier(spec, config.seed)
    model.load_state_dict(load_file(str(store.run_dir(run) / "model.safetensors")))
    return model.to(device).eval(), config


def run_model_like(store: Store, run_id: int, config: TrainConfig, device) -> torch.nn.Module:
    """A finished run's classifier to continue training in a run of `config` (same arch and
    image size, else a ValueError naming the difference)."""
    try:
        run = store.get_run(int(run_id))
    except KeyError:
        raise ValueError(f"there is no run {run_id} to start from") from None
    if run.status != "done":
        raise ValueError(f"run {run_id} is {run.status}: only a finished run can be continued")
    for key in ("arch", "image_size"):
        if run.config.get(key) != getattr(config, key):
            raise ValueError(
                f"run {run_id} has {key} {run.config.get(key)!r}, this run {getattr(config, key)!r}"
            )
    model, _ = load_run_model(store, int(run_id), device)
    return model.train()
