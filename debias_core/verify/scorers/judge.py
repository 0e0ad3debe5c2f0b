"""`judge`: the embedded digit judge reads a Colored Digits image (models/digit_judge.py).

value = the judge's probability that the image shows the sample's class digit. details: the digit
it reads, the stroke and background colours it reads, the context it reads (the colour that carries
the project's spurious attribute, background or stroke), `context_ok`: that is the sample's
recorded context, and `conflicting`: that is not its class's bias-aligned context in the real
train split. Only for Colored Digits projects (the judge knows digits and these colours only).

It is a judge of what an image shows, so it also records the group it reads, (class of the digit
read, the context colour read), next to the recorded one (`read_groups`, store/verify.py): a
sample it reads in another group is set aside by `stats`, training and the comparison bench.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from debias_core.store.verify import ReadGroup
from debias_core.verify.base import SCORERS, ScoreBatch

BUILD = "python scripts/build_embedded_backbone.py --out assets/tiny-sd"


@dataclass(frozen=True)
class JudgeParams:
    weights: str = ""  # a judge safetensors file; '' = the one shipped with the embedded model

    def check_inputs(self) -> None:
        pass


def judge_file(params: JudgeParams) -> Path:
    from debias_core.models.backbone import EMBEDDED_DIR

    return Path(params.weights) if params.weights else EMBEDDED_DIR / "digit_judge.safetensors"


@functools.lru_cache(maxsize=2)
def _load(path: str):
    from debias_core.models.digit_judge import load_digit_judge

    return load_digit_judge(Path(path))


def class_digits(meta: dict) -> list[int]:
    """The digit of each class ('digit 3' -> 3) of a Colored Digits project."""
    if meta.get("dataset") != "colored-digits":
        raise ValueError("the judge scorer reads Colored Digits images only")
    return [int(name.split()[-1]) for name in meta["class_names"]]


@torch.no_grad()
def read(model, images: np.ndarray):
    """(digit probabilities (N, 10), strokes, backgrounds) of uint8 images (N, 32, 32, 3)."""
    from debias_core.models.digit_judge import ink_map, read_colours

    ink = torch.from_numpy(ink_map(images)).float()[:, None]
    strokes, backgrounds = read_colours(images)
    return model.eval()(ink).softmax(1).numpy(), strokes, backgrounds


def load_images(store, samples) -> np.ndarray:
    from PIL import Image

    out = []
    for sample in samples:
        image = store.sample_image(sample.id)
        if image.size != (32, 32):
            image = image.resize((32, 32), Image.BILINEAR)
        out.append(np.asarray(image))
    return np.stack(out)


@SCORERS.register("judge")
class Judge:
    default_params = JudgeParams()

    @staticmethod
    def check(store, params: JudgeParams) -> None:
        class_digits(store.meta())
        path = judge_file(params)
        if not path.is_file():
            raise ValueError(f"the digit judge {path} is missing; build it: {BUILD}")
        try:  # a wrong file fails here, before a job is queued, never inside one
            _load(str(path))
        except Exception:  # noqa: BLE001  (any reader error; its text may quote the file)
            raise ValueError(f"weights {path} is not a digit judge safetensors file") from None

    @staticmethod
    def score(store, samples, params: JudgeParams, device: str = "cpu") -> ScoreBatch:
        if not samples:
            return ScoreBatch("judge", {}, {})
        meta = store.meta()
        digits, colours = class_digits(meta), meta["attr_names"]
        on_stroke = meta.get("dataset_params", {}).get("spurious") == "stroke"
        aligned = store.aligned_attrs()
        probs, strokes, backgrounds = read(
            _load(str(judge_file(params))), load_images(store, samples)
        )
        values, details, groups = {}, {}, {}
        for k, sample in enumerate(samples):
            context = strokes[k] if on_stroke else backgrounds[k]
            groups[sample.id] = read_group(sample, int(probs[k].argmax()), context, digits, colours)
            values[sample.id] = float(probs[k, digits[sample.y]])
            details[sample.id] = {
                "digit": int(probs[k].argmax()),
                "stroke": strokes[k],
                "background": backgrounds[k],
                "context": context,
                "context_ok": context == colours[sample.a],
                "conflicting": sample.y in aligned and context != colours[aligned[sample.y]],
            }
        return ScoreBatch("judge", values, details, read_groups=groups)


def read_group(sample, digit: int, context: str, digits: list[int], colours: list[str]):
    """The (class, context) a reading names; None where it is none of the project's."""
    y = digits.index(digit) if digit in digits else None
    a = colours.index(context) if context in colours else None
    return ReadGroup(y, a, agrees=(y, a) == (sample.y, sample.a))
