"""`clip`: image embeddings of a CLIP model (the embedded tiny CLIP unless a model is named).

Specs: `clip` (= `clip:embedded`, the demo's CLIP, trained on Colored Digits renders),
`clip:vit-b-32`, `clip:vit-l-14` (OpenAI's CLIP from local files: use these for real datasets),
`clip:<folder or hub id>`. The model loads on the first `embed`, so naming an extractor (to read
cached vectors, or to check a spec before queuing a job) costs only a file hash.
"""

from __future__ import annotations

import numpy as np

from debias_core.analysis.features.base import FEATURES
from debias_core.models.clip import cached_clip, clip_folder, content_hash
from debias_core.store import Store


class ClipFeatures:
    def __init__(self, model: str = "", device: str = "cpu") -> None:
        self.model = model or "embedded"
        self.spec = "clip" if self.model == "embedded" else f"clip:{self.model}"
        self.device = device
        self._folder = clip_folder(self.model)  # CheckpointMissing now, not inside a job

    @property
    def image_size(self) -> int:
        """Samples are read at the vision tower's input size (squares)."""
        import json

        config = json.loads((self._folder / "config.json").read_text())
        return int(config["vision_config"]["image_size"])

    def model_id(self) -> str:
        return content_hash(self._folder)

    def embed(self, images: np.ndarray) -> np.ndarray:
        return cached_clip(self.model, self.device).image_embeddings(images)


@FEATURES.register("clip")
def clip_features(store: Store, argument: str, device: str = "cpu") -> ClipFeatures:
    return ClipFeatures(argument, device)
