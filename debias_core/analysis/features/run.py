"""`run:<id>`: the penultimate-layer features (`forward_features`) of a trained classifier."""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from debias_core.analysis.features.base import FEATURES
from debias_core.store import Store


class RunFeatures:
    def __init__(self, store: Store, run_id: str, device: str = "cpu") -> None:
        from debias_core.train.run import load_run_model

        if not str(run_id).isdigit():
            raise ValueError(f"features 'run:ID' need a run id, got 'run:{run_id}'")
        self.spec = f"run:{int(run_id)}"
        self.model, self.config = load_run_model(store, int(run_id), device)
        self.image_size = self.config.image_size  # samples of any size are read at this one
        self.device = device
        self._weights = store.run_dir(store.get_run(int(run_id))) / "model.safetensors"

    def model_id(self) -> str:
        return hashlib.sha256(self._weights.read_bytes()).hexdigest()

    @torch.no_grad()
    def embed(self, images: np.ndarray) -> np.ndarray:
        from debias_core.train.tensors import MEAN, STD

        size = self.config.image_size
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
        if x.shape[-1] != size:
            x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear")
        x = ((x - MEAN) / STD).to(self.device)
        return self.model.forward_features(x).float().cpu().numpy()


@FEATURES.register("run")
def run_features(store: Store, argument: str, device: str = "cpu") -> RunFeatures:
    return RunFeatures(store, argument, device)
