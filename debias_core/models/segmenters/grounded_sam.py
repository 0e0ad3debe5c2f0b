"""`grounded-sam`: text prompt -> boxes (GroundingDINO) -> masks (SAM), with transformers' classes.

This is LangSAM's recipe (lang-sam itself is not on the package index). Every box above the box
threshold becomes a SAM box prompt; the sample's mask is the union of those masks and its score
the best box's. With no box above threshold the result is None ("nothing found"), never an empty
mask that would look like a successful segmentation.

Checkpoints load from a local folder or the Hugging Face cache only (`resolve_checkpoint`); a
missing one raises CheckpointMissing naming the model, the places searched and the fetch command.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from debias_core.models.checkpoints import resolve_checkpoint
from debias_core.models.segmenters.base import SEGMENTERS, Segment
from debias_core.params import bounded

DETECTORS = ("IDEA-Research/grounding-dino-tiny", "IDEA-Research/grounding-dino-base")
SAMS = ("facebook/sam-vit-base", "facebook/sam-vit-huge")


@dataclass(frozen=True)
class GroundedSamParams:
    detector: str = field(default=DETECTORS[0], metadata={"help": "GroundingDINO id or folder"})
    sam: str = field(default=SAMS[0], metadata={"help": "SAM id or folder"})
    box_threshold: float = bounded(0.3, 0.0, 1.0)
    text_threshold: float = bounded(0.25, 0.0, 1.0)

    def check_inputs(self) -> None:
        for name in ("box_threshold", "text_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")


def detector_text(prompt: str) -> str:
    """GroundingDINO expects lower-case phrases each ending with a period."""
    text = prompt.strip().lower()
    return text if text.endswith(".") else f"{text}."


def weights_hash(*folders: Path) -> str:
    """sha256 over the config, tokenizer and weight files a load reads (top level of each)."""
    digest = hashlib.sha256()
    for folder in folders:
        files = sorted(p for p in Path(folder).iterdir() if p.is_file())
        weights = [p for p in files if p.suffix == ".safetensors"]
        wanted = [p for p in files if p.suffix in (".json", ".txt")]
        wanted += weights or [p for p in files if p.suffix == ".bin"]
        for path in sorted(wanted):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


class GroundedSam:
    """Loaded models + processors (`load` builds one from local checkpoint folders)."""

    name = "grounded-sam"

    def __init__(self, detector, detector_processor, sam, sam_processor, params, model_hash):
        self.detector, self.detector_processor = detector.eval(), detector_processor
        self.sam, self.sam_processor = sam.eval(), sam_processor
        self.params, self.model_hash = params, model_hash

    @torch.no_grad()
    def boxes(self, image, prompt: str) -> tuple[list[list[float]], list[float]]:
        """Boxes (x0, y0, x1, y1 in pixels) and scores of the phrase, best first."""
        inputs = self.detector_processor(
            images=[image], text=[detector_text(prompt)], return_tensors="pt"
        ).to(self.detector.device)
        outputs = self.detector(**inputs)
        (found,) = self.detector_processor.post_process_grounded_object_detection(
            outputs,
            inputs["input_ids"],
            threshold=self.params.box_threshold,
            text_threshold=self.params.text_threshold,
            target_sizes=[image.size[::-1]],
        )
        order = found["scores"].argsort(descending=True)
        return found["boxes"][order].tolist(), found["scores"][order].tolist()

    @torch.no_grad()
    def masks(self, image, boxes: list[list[float]]) -> np.ndarray:
        """(H, W) union of SAM's single-mask outputs for the boxes."""
        inputs = self.sam_processor(images=[image], input_boxes=[boxes], return_tensors="pt")
        inputs = inputs.to(self.sam.device)
        outputs = self.sam(**inputs, multimask_output=False)
        (masks,) = self.sam_processor.image_processor.post_process_masks(
            outputs.pred_masks.cpu(),
            inputs["original_sizes"].cpu(),
            inputs["reshaped_input_sizes"].cpu(),
        )
        return masks.reshape(-1, *masks.shape[-2:]).any(dim=0).numpy()

    def segment(self, store, sample_ids: Sequence[int], prompts: Sequence[str]):
        out = []
        for sid, prompt in zip(sample_ids, prompts, strict=True):
            image = store.sample_image(sid)
            boxes, scores = self.boxes(image, prompt)
            if not boxes:
                out.append(None)
                continue
            out.append(Segment(self.masks(image, boxes), float(scores[0]), boxes))
        return out


def _folders(params: GroundedSamParams) -> tuple[Path, Path]:
    detector = resolve_checkpoint(params.detector, what="the grounded-sam text-to-box detector")
    sam = resolve_checkpoint(params.sam, what="the grounded-sam box-to-mask model")
    return detector, sam


@SEGMENTERS.register("grounded-sam")
class GroundedSamKind:
    default_params = GroundedSamParams()

    @staticmethod
    def check(params: GroundedSamParams) -> None:
        _folders(params)

    @staticmethod
    def load(params: GroundedSamParams, device: str = "cpu") -> GroundedSam:
        from transformers import (
            AutoProcessor,
            GroundingDinoForObjectDetection,
            SamModel,
            SamProcessor,
        )

        detector_dir, sam_dir = _folders(params)
        local = {"local_files_only": True}
        return GroundedSam(
            GroundingDinoForObjectDetection.from_pretrained(detector_dir, **local).to(device),
            AutoProcessor.from_pretrained(detector_dir, **local),
            SamModel.from_pretrained(sam_dir, **local).to(device),
            SamProcessor.from_pretrained(sam_dir, **local),
            params,
            weights_hash(detector_dir, sam_dir),
        )
