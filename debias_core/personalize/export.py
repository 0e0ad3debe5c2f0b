"""Write a unit's learned tensors as diffusers files under `artifacts/` and describe them as rows.

Files are written to a temporary folder and moved into place before any row is inserted, so a
crash leaves no row without its file (a leftover folder is replaced when the unit is redone).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import asdict
from pathlib import Path

from debias_core.models.lora_batched import LORA_FILE, save_lora_file
from debias_core.models.tokens import TOKEN_FILE, save_learned_embeds
from debias_core.personalize.engine import ConceptResult
from debias_core.store import Artifact
from debias_core.store.artifacts import file_sha256

CURVE_POINTS = 400  # longer loss curves are thinned to about this many points for the store


def slug(text: str) -> str:
    """A file-name-safe form of a token name ("<c-3>" -> "c-3")."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "", text.replace(" ", "_")) or "token"


def _write_concept(result: ConceptResult, folder: Path) -> dict[str, Path]:
    """Files of one concept in `folder`; returns {artifact name: path}."""
    paths = {}
    for token, vector in result.tokens.items():
        paths[token] = save_learned_embeds(folder / slug(token) / TOKEN_FILE, token, vector)
    if result.lora is not None:
        save_lora_file(result.lora, result.lora_metadata, folder / "lora")
        paths["lora"] = folder / "lora" / LORA_FILE
    return paths


def thin(curve: list[float], points: int = CURVE_POINTS) -> list[float]:
    if len(curve) <= points:
        return list(curve)
    step = len(curve) / points
    return [curve[int(i * step)] for i in range(points)] + [curve[-1]]


def export_unit(
    store, job_id: int, unit_key: str, results: list[ConceptResult], config, method: str, backbone
) -> list[Artifact]:
    """Place the unit's files under artifacts/job-<id>/<concept>/ and return their rows."""
    job_dir = store.artifacts_dir(job_id)
    tmp = job_dir / f".tmp-{slug(unit_key)}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    written = {r.concept.key: _write_concept(r, tmp / r.concept.key) for r in results}
    artifacts = []
    for result in results:
        final = job_dir / result.concept.key
        shutil.rmtree(final, ignore_errors=True)  # left by an attempt that crashed before its row
        os.replace(tmp / result.concept.key, final)
        for name, path in written[result.concept.key].items():
            placed = final / path.relative_to(tmp / result.concept.key)
            artifacts.append(_row(store, result, name, placed, config, method, backbone))
    shutil.rmtree(tmp, ignore_errors=True)
    return artifacts


def _row(store, result, name, path, config, method, backbone) -> Artifact:
    concept = result.concept
    roles = {t.name: t.role for t in concept.tokens}
    return Artifact(
        kind="lora" if name == "lora" else "token",
        scope=concept.scope,
        method=method,
        concept=concept.key,
        name=f"lora:{concept.key}" if name == "lora" else name,
        path=path.relative_to(store.root).as_posix(),
        sha256=file_sha256(path),
        sample_ids=concept.sample_ids,
        y=concept.y,
        a=concept.a,
        cluster=concept.cluster,
        config=asdict(config),
        loss_curve=tuple(thin(result.loss_curve)),
        backbone_id=backbone.spec,
        backbone_hash=backbone.content_hash,
        meta={
            "role": roles.get(name, "adapter"),
            "text": concept.text,
            **_mask_meta(concept, name),
        },
    )


def _mask_meta(concept, name: str) -> dict:
    """A token that owns a named mask (a label's, or the background) records which."""
    masks = {t.name: t.mask for t in concept.tokens if t.mask}
    return {"mask": masks[name]} if name in masks else {}
