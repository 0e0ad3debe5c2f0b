"""The model-card section: intended use, data, models and limitations, each line a project fact.

Nothing here is boilerplate: a line appears only when the store (or a shipped asset's card)
supports it, and names its number.
"""

from __future__ import annotations

import json
from pathlib import Path

from debias_core.models.checkpoints import KNOWN_MODELS, REPO_ROOT
from debias_core.report.view import CardItem, DatasetSection, GeneratedSection, ResultsSection

# Backbone specs whose card ships in assets/ (the folder holds README.md and quality.json).
ASSET_CARDS = {"embedded": "tiny-sd"}
LOW_KAPPA = 0.4  # below this a policy agrees with people only "fairly" (Landis & Koch)


def model_card(
    info, dataset: DatasetSection, generated: GeneratedSection, results: ResultsSection
) -> list[CardItem]:
    return [
        CardItem("Intended use", _intended_use(info, dataset, results)),
        CardItem("Data", _data(info, dataset, generated)),
        CardItem("Models", _models(results, generated)),
        CardItem("Limitations", _limitations(dataset, generated, results)),
    ]


def _intended_use(info, dataset: DatasetSection, results: ResultsSection) -> list[str]:
    classes, attrs = ", ".join(info.class_names), ", ".join(info.attr_names)
    lines = [
        f"The classifiers predict the class ({classes}) of a {info.dataset} image; the context "
        f"({attrs}) is not an input and should not change the answer.",
        f"In the real train split {dataset.aligned_fraction:.1%} of the {dataset.train_total} "
        "images show their class in its majority context, so a classifier can learn the context "
        "as a shortcut; this report measures how much accuracy each group keeps.",
    ]
    if results.runs:
        n_test = sum(r.n for r in results.runs[0].report.per_group)
        lines.append(
            f"The numbers hold for this project's test split ({n_test} images); they are evidence "
            "for comparing debiasing methods here, not a guarantee on other data."
        )
    return lines


def _data(info, dataset: DatasetSection, generated: GeneratedSection) -> list[str]:
    params = ", ".join(f"{k}={v}" for k, v in sorted(info.dataset_params.items())) or "defaults"
    split = {s: sum(getattr(g, s) for g in dataset.groups) for s in ("train", "val", "test")}
    lines = [
        f"Dataset {info.dataset} ({params}): {split['train']} train, {split['val']} val, "
        f"{split['test']} test real images in {len(dataset.groups)} (class, context) groups.",
    ]
    if dataset.biased:
        rare = dataset.biased[0]
        lines.append(
            f"The rarest group in train is {rare.label} with {rare.train} images; "
            f"{len(dataset.biased)} group(s) are bias-conflicting."
        )
    total = sum(r.total for r in generated.methods)
    if total:
        accepted = sum(r.accepted for r in generated.methods)
        methods = ", ".join(r.method for r in generated.methods)
        lines.append(
            f"{total} generated images ({methods}); {accepted} accepted by a person or a policy."
        )
    return lines


def _models(results: ResultsSection, generated: GeneratedSection) -> list[str]:
    lines = []
    for run in results.runs:
        c = run.config
        lines.append(
            f"Run {run.run_id}: {c.get('arch', '?')} classifier, method {run.method}, "
            f"epochs {c.get('epochs', '?')}, seed {run.seed}, trained on {run.data}."
        )
    for b in generated.backbones:
        lines.extend(_backbone_lines(b["backbone_id"], b["backbone_hash"], b["n"]))
    return lines


def _backbone_lines(spec: str, digest: str, n: int) -> list[str]:
    short = (digest or "unrecorded")[:12]
    head = f"Generator backbone {spec} (weights {short}) made {n} of the images."
    folder = ASSET_CARDS.get(spec)
    if folder is None:
        if spec in KNOWN_MODELS:
            return [head + f" Its card is the model's own: {KNOWN_MODELS[spec]} on Hugging Face."]
        return [head + " No card ships for it in assets/."]
    card = REPO_ROOT / "assets" / folder
    lines = [head, f"From its card (assets/{folder}/README.md): {_first_paragraph(card)}"]
    quality = _quality(card)
    if quality:
        lines.append(quality)
    return lines


def _first_paragraph(folder: Path) -> str:
    try:
        text = (folder / "README.md").read_text()
    except OSError:
        return "(the card is missing from this checkout)"
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    body = [p for p in paragraphs if not p.startswith("#")]
    return " ".join(body[0].split()) if body else ""


def _quality(folder: Path) -> str:
    try:
        q = json.loads((folder / "quality.json").read_text())["quality"]
    except (OSError, KeyError, ValueError):
        return ""
    parts = [
        f"{name} {100 * q[key]:.1f}%"
        for key, name in (
            ("digit_accuracy", "digit"),
            ("stroke_accuracy", "stroke colour"),
            ("all_three_accuracy", "all three"),
        )
        if key in q
    ]
    return f"Measured on its card: over {q.get('n', '?')} prompts, generations match the " + (
        "prompt's " + ", ".join(parts) + "." if parts else "prompt (see the card)."
    )


def _limitations(
    dataset: DatasetSection, generated: GeneratedSection, results: ResultsSection
) -> list[str]:
    lines = []
    if results.runs:
        run = results.runs[0]
        smallest = min(run.report.per_group, key=lambda r: r.n)
        e = run.intervals.per_group[(smallest.y, smallest.a)]
        lines.append(
            f"The smallest test group ({smallest.label}) has {smallest.n} images: its accuracy "
            f"in run {run.run_id} is known only to ±{100 * e.half_width:.0f} points (95%)."
        )
    single = [v.run_id for v in results.lifts if v.kind == "per-run"]
    if single:
        lines.append(
            f"Run(s) {', '.join(map(str, single))} have one seed per configuration: the lift "
            "over the baseline leaves seed-to-seed variation unmeasured; train more seeds."
        )
    for a in generated.agreements:
        if a.kappa is not None and a.kappa < LOW_KAPPA:
            lines.append(
                f"Policy '{a.policy}' agrees with people only weakly (kappa {a.kappa:.2f} over "
                f"{a.n_firm} samples): its accepts are not a substitute for review."
            )
    lines.extend(_synthetic_limits(generated, results))
    if any(b["backbone_id"] in ASSET_CARDS for b in generated.backbones):
        lines.append(
            "The generated images come from the embedded demo backbone (32x32, trained only on "
            "Colored Digits renders): they show the pipeline, not what Stable Diffusion would "
            "make for real photographs."
        )
    lines.append(
        "Only the annotated context is measured: other attributes the data may be biased on "
        "are not in these groups."
    )
    return lines


def _synthetic_limits(generated: GeneratedSection, results: ResultsSection) -> list[str]:
    pending = sum(r.pending for r in generated.methods)
    uses_all = [r.run_id for r in results.runs if r.config.get("synthetic") == "all"]
    if pending and uses_all:
        return [
            f"Run(s) {', '.join(map(str, uses_all))} trained on all generated images, and "
            f"{pending} are not yet reviewed by anyone."
        ]
    return []
