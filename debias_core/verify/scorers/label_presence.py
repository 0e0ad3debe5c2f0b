"""`label-presence`: is the edited pair's object b in a generated image, and is its context c?

For images of DecoupleGen's multi-label edits (their meta names the pair (b, c)): value = the
confidence that b is found, details = {b, c, p_b, p_c, reader}. Readers:
- `judge` (Colored Digits projects): a digit label is found with the digit judge's probability
  of that digit, a colour label when the judge reads that colour as the stroke or background
  (on the multi-label demo the background is the colour box inside the black frame);
- a segmenter's name: its confidence for a prompt of the label's name (0 when nothing found).
`auto` picks the judge on Colored Digits projects and grounded-sam elsewhere. Images without a
pair are left out (the policy then asks a person).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from debias_core.verify.base import SCORERS, ScoreBatch

READERS = ("auto", "judge")


@dataclass(frozen=True)
class LabelPresenceParams:
    reader: str = "auto"  # auto | judge | a segmenter's name
    weights: str = ""  # judge: its safetensors file ('' = the embedded one)
    segmenter_params: dict[str, Any] = field(default_factory=dict)

    def check_inputs(self) -> None:
        from debias_core.models.segmenters import SEGMENTERS

        if self.reader not in READERS and self.reader not in SEGMENTERS:
            valid = [*READERS, *SEGMENTERS.names()]
            raise ValueError(f"reader must be one of {valid}, got {self.reader!r}")


def is_digits_project(meta: dict) -> bool:
    return str(meta.get("dataset", "")).startswith("colored-digits")


def reader_of(store, params: LabelPresenceParams) -> str:
    if params.reader != "auto":
        return params.reader
    return "judge" if is_digits_project(store.meta()) else "grounded-sam"


def digit_of(name: str) -> int | None:
    """The digit a label names ('3', 'digit 3'), or None."""
    found = re.fullmatch(r"(?:digit\s+)?(\d)", name.strip())
    return int(found.group(1)) if found else None


def frame_filled(images: np.ndarray) -> np.ndarray:
    """Multi-label demo images (a digit over a colour box in a black frame) as the judge knows
    them: the frame painted in the box's median colour, so the box colour reads as the
    background and the digit's ink is measured against it."""
    from debias_core.data.colored_digits_multilabel import FRAME, context_box

    box = context_box()
    ring = box.copy()  # the box's outer 2 px: the digit seldom reaches them, so the median
    ring[FRAME + 2 : -FRAME - 2, FRAME + 2 : -FRAME - 2] = False  # there is the box colour
    out = images.copy()
    for image in out:
        image[~box] = np.median(image[ring].astype(np.float32), axis=0).round().astype(np.uint8)
    return out


def judge_presence(store, samples, names: list[str], params) -> list[float]:
    """Per sample, the judge's confidence that label `names[k]` is in image k."""
    from debias_core.data.colored_digits_multilabel import DATASET
    from debias_core.verify.scorers.judge import JudgeParams, _load, judge_file, load_images, read

    images = load_images(store, samples)
    if store.meta().get("dataset") == DATASET:
        images = frame_filled(images)
    probs, strokes, backgrounds = read(_load(str(judge_file(JudgeParams(params.weights)))), images)
    out = []
    for k, name in enumerate(names):
        digit = digit_of(name)
        if digit is not None:
            out.append(float(probs[k, digit]))
        else:
            out.append(1.0 if name in (strokes[k], backgrounds[k]) else 0.0)
    return out


def segmenter_presence(store, samples, names: list[str], reader: str, params) -> list[float]:
    from debias_core.verify.masks import load_segmenter, segmenter_params

    segmenter = load_segmenter(reader, segmenter_params(reader, params.segmenter_params))
    found = segmenter.segment(store, [s.id for s in samples], list(names))
    return [0.0 if seg is None else float(seg.score) for seg in found]


def presence(store, samples, names: list[str], params) -> list[float]:
    reader = reader_of(store, params)
    if reader == "judge":
        return judge_presence(store, samples, names, params)
    return segmenter_presence(store, samples, names, reader, params)


@SCORERS.register("label-presence")
class LabelPresence:
    default_params = LabelPresenceParams()

    @staticmethod
    def check(store, params: LabelPresenceParams) -> None:
        if not store.label_name_map():
            raise ValueError("label-presence reads multi-label projects only (no label names)")
        reader = reader_of(store, params)
        if reader == "judge":
            from debias_core.verify.scorers.judge import JudgeParams, judge_file

            if not is_digits_project(store.meta()):
                raise ValueError("the judge reader reads Colored Digits images only")
            if not judge_file(JudgeParams(params.weights)).is_file():
                raise ValueError(
                    f"the digit judge {judge_file(JudgeParams(params.weights))} is missing"
                )
        else:
            from debias_core.models.segmenters import SEGMENTERS
            from debias_core.verify.masks import segmenter_params

            SEGMENTERS.get(reader).check(segmenter_params(reader, params.segmenter_params))

    @staticmethod
    def score(store, samples, params: LabelPresenceParams, device: str = "cpu") -> ScoreBatch:
        paired = [s for s in samples if len(s.meta.get("pair") or []) == 2]
        if not paired:
            return ScoreBatch("label-presence", {}, {})
        names = store.label_name_map()
        b_names = [names.get(s.meta["pair"][0], "") for s in paired]
        c_names = [names.get(s.meta["pair"][1], "") for s in paired]
        both = presence(store, paired + paired, b_names + c_names, params)
        p_b, p_c = np.asarray(both[: len(paired)]), np.asarray(both[len(paired) :])
        values, details = {}, {}
        for k, sample in enumerate(paired):
            values[sample.id] = float(p_b[k])
            details[sample.id] = {
                "b": b_names[k],
                "c": c_names[k],
                "p_b": float(p_b[k]),
                "p_c": float(p_c[k]),
                "reader": reader_of(store, params),
            }
        return ScoreBatch("label-presence", values, details)
