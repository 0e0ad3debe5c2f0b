"""Find real checkpoints on disk, never downloading; say exactly how to fetch a missing one.

A model is looked up, in order, as: a local folder path; the project's checkpoint folder
(`$DEBIAS_CHECKPOINTS`, default `<repo>/checkpoints/<name>`, or the caller's `local_dir`); the
Hugging Face cache (`$HF_HUB_CACHE`, else `$HF_HOME/hub`) with `local_files_only=True`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# Short specs (UI, CLI) -> Hugging Face hub ids.
KNOWN_MODELS: dict[str, str] = {
    "sd2": "stabilityai/stable-diffusion-2-base",
    "sd2-1": "stabilityai/stable-diffusion-2-1-base",
    "sd2-inpainting": "stabilityai/stable-diffusion-2-inpainting",
    "resnet-50": "microsoft/resnet-50",
    "resnet-18": "microsoft/resnet-18",
    "clip": "openai/clip-vit-base-patch32",
    "clip-large": "openai/clip-vit-large-patch14",
    "grounding-dino": "IDEA-Research/grounding-dino-tiny",
    "sam": "facebook/sam-vit-base",
}
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class CheckpointMissing(ValueError):
    """A checkpoint is not on this machine; the message says where we looked and how to fetch it."""

    def __init__(self, model: str, what: str, searched: list[str], command: str) -> None:
        self.model, self.what, self.searched, self.command = model, what, searched, command
        places = "\n".join(f"  - {place}" for place in searched)
        super().__init__(
            f"Checkpoint {model!r} (for {what}) is not on this machine.\n"
            f"Searched:\n{places}\n"
            "Nothing is downloaded at run time. On a machine with internet, run:\n"
            f"  {command}\n"
            "and copy the folder to the same path here (or pass the folder's path instead)."
        )


def checkpoints_dir() -> Path:
    """The project's folder of downloaded checkpoints (`$DEBIAS_CHECKPOINTS` overrides it)."""
    return Path(os.environ.get("DEBIAS_CHECKPOINTS") or REPO_ROOT / "checkpoints")


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment now (not at import time)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or Path("~/.cache/huggingface").expanduser()
    return Path(home).expanduser() / "hub"


def default_local_dir(model: str) -> Path:
    """Where the fetch command puts `model`: `<checkpoints>/<repo name>`."""
    return checkpoints_dir() / model.rstrip("/").split("/")[-1]


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def _from_hf_cache(model: str, cache: Path) -> Path | None:
    """The cached snapshot of `model`, or None; `local_files_only` makes no network call."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(model, local_files_only=True, cache_dir=cache))
    except (LocalEntryNotFoundError, HFValidationError, FileNotFoundError, OSError):
        return None


def resolve_checkpoint(model: str, *, what: str, local_dir: Path | None = None) -> Path:
    """The local folder holding `model` (a folder path or hub id); raise CheckpointMissing if none.

    `what` says what the checkpoint is for, e.g. "the sd2 generative backbone"; it goes into the
    error message. Short names from KNOWN_MODELS are accepted too.
    """
    model = KNOWN_MODELS.get(model, model)
    if Path(model).expanduser().is_dir():
        return Path(model).expanduser()
    if not HUB_ID.match(model):  # a folder path that does not exist: no hub id to fetch
        searched = [f"folder {Path(model).expanduser()} (not found)"]
        command = f"hf download <owner/name> --local-dir {model}"
        raise CheckpointMissing(model, what, searched, command)
    folder = Path(local_dir) if local_dir is not None else default_local_dir(model)
    if _has_files(folder):
        return folder
    cache = hf_cache_dir()
    snapshot = _from_hf_cache(model, cache)
    if snapshot is not None and _has_files(snapshot):
        return snapshot
    searched = [
        f"folder {folder} ({'empty' if folder.is_dir() else 'not found'})",
        f"Hugging Face cache {cache} (no snapshot of {model})",
    ]
    raise CheckpointMissing(model, what, searched, f"hf download {model} --local-dir {folder}")
