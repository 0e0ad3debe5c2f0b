"""What several scorers load: a run's classifier, class-mean softmax (DBB Eq. 3), pixels, masks.

Loaded models are cached per process (a finished run's weights never change).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from debias_core.models.segmenters.regions import recipe_region
from debias_core.store import Sample, SampleFilter, Store

TRAIN_HINT = "train one with `python -m debias_core train DIR --method erm` and pass --run ID"


def check_run(store: Store, run_id: int | None, what: str) -> None:
    """A finished classifier run exists, or a ValueError saying how to make one."""
    if run_id is None:
        raise ValueError(f"{what} needs a classifier run: {TRAIN_HINT}")
    try:
        run = store.get_run(run_id)
    except KeyError:
        raise ValueError(
            f"{what}: there is no run {run_id} in this project; {TRAIN_HINT}"
        ) from None
    if run.status != "done" or not (store.run_dir(run) / "model.safetensors").is_file():
        raise ValueError(f"{what}: run {run_id} is {run.status} and has no model; {TRAIN_HINT}")


@functools.lru_cache(maxsize=4)
def _classifier(root: str, run_id: int, device: str):
    from debias_core.train.run import load_run_model

    return load_run_model(Store.open(Path(root)), run_id, device)


def classifier(store: Store, run_id: int, device: str = "cpu"):
    """(model in eval mode, its TrainConfig)."""
    return _classifier(str(store.root), int(run_id), str(device))


def pixels(store: Store, sample_ids: Sequence[int], size: int) -> torch.Tensor:
    """(N, 3, size, size) in [-1, 1]: the classifiers' normalisation (train/tensors.py)."""
    out = []
    for sid in sample_ids:
        image = store.sample_image(sid)
        if image.size != (size, size):
            image = image.resize((size, size), Image.BILINEAR)
        out.append(torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1))
    return torch.stack(out).float().div(127.5).sub(1.0)


@torch.no_grad()
def probabilities(model, x: torch.Tensor, device: str = "cpu", batch: int = 512) -> torch.Tensor:
    parts = [model(x[i : i + batch].to(device)).softmax(1).cpu() for i in range(0, len(x), batch)]
    return torch.cat(parts) if parts else torch.empty(0)


@functools.lru_cache(maxsize=4)
def _class_mean_softmax(root: str, run_id: int, device: str) -> tuple[float, ...]:
    from debias_core.train.tensors import load_tensors

    store = Store.open(Path(root))
    model, config = classifier(store, run_id, device)
    train = load_tensors(store, SampleFilter(source="real", split="train"), config.image_size)
    probs = probabilities(model, train.x, device)
    n_classes = len(store.class_names)
    own = probs[torch.arange(len(train)), train.y]
    return tuple(
        float(own[train.y == c].mean()) if bool((train.y == c).any()) else float("nan")
        for c in range(n_classes)
    )


def class_mean_softmax(store: Store, run_id: int, device: str = "cpu") -> np.ndarray:
    """Psi_c = mean over real train samples of class c of softmax(f(x))[c] (DBB Eq. 3)."""
    return np.asarray(_class_mean_softmax(str(store.root), int(run_id), str(device)))


def source_mask(store: Store, sample: Sample, segmenter: str) -> np.ndarray | None:
    """The mask of a generated sample's source image: the region its recipe edited (the recipe's
    mask, grown as the recipe records), else the source's own mask from `segmenter`; None when
    there is neither."""
    if sample.recipe_id is not None:
        recipe = store.get_recipe(sample.recipe_id)
        if recipe.mask_id is not None:  # the region the generator really edited
            return recipe_region(store.mask_pixels(recipe.mask_id), recipe.params)
    if sample.parent_id is None:
        return None
    row = store.find_mask(sample.parent_id, segmenter=segmenter)
    return None if row is None else store.mask_pixels(row["id"])


def fit_mask(mask: np.ndarray, size: int) -> np.ndarray:
    if mask.shape == (size, size):
        return mask
    pil = Image.fromarray(mask.astype(np.uint8) * 255).resize((size, size), Image.NEAREST)
    return np.asarray(pil) > 127


# -- CLIP (CLIP-Label / CLIP-Centroid, Clustered DreamBooth Eq. 1) -------------------------------
def check_clip(spec: str) -> None:
    """The CLIP checkpoint is on this machine (CheckpointMissing names it and where we looked)."""
    from debias_core.models.clip import clip_folder

    clip_folder(spec)


def clip_feature_spec(spec: str) -> str:
    """The embeddings-cache name of a CLIP spec (as the `clip` feature extractor names it)."""
    spec = str(spec).strip() or "embedded"
    return "clip" if spec == "embedded" else f"clip:{spec}"


def clip_image_embeddings(store: Store, clip, sample_ids: Sequence[int]) -> np.ndarray:
    """(N, D) L2-normalised CLIP embeddings; vectors the embeddings cache holds for these exact
    weights are read, the rest computed (a real CLIP over a large group is the slow part)."""
    from debias_core.analysis.features import read_images

    ids = [int(i) for i in sample_ids]
    if not ids:
        return np.empty((0, clip.dim), np.float32)
    space = clip_feature_spec(clip.spec)
    cached = set(store.embedded_ids(space, clip.content_hash).tolist())
    have = [i for i in ids if i in cached]
    todo = [i for i in ids if i not in cached]
    vectors: dict[int, np.ndarray] = {}
    if have:
        vectors.update(zip(have, store.get_embeddings(space, clip.content_hash, have), strict=True))
    if todo:
        computed = clip.image_embeddings(read_images(store, todo, clip.image_size))
        vectors.update(zip(todo, computed, strict=True))
    return np.stack([vectors[i] for i in ids]).astype(np.float32)
