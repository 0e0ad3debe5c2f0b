"""Personalization artifacts: learned token and LoRA files, with what they learned from.

Files live under the project's `artifacts/` folder; a row records the file's content hash, so a
recipe that names an artifact by id and hash can tell when the file went missing or changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from debias_core.store.records import dumps, loads, now

ARTIFACTS_DIR = "artifacts"
KINDS = ("token", "lora")
SCOPES = ("image", "class", "group", "cluster")


@dataclass(frozen=True)
class Artifact:
    """One learned file. `path` is relative to the project folder."""

    kind: str
    scope: str
    method: str
    concept: str
    name: str
    path: str
    sha256: str
    sample_ids: tuple[int, ...] = ()
    y: int | None = None
    a: int | None = None
    cluster: int | None = None
    config: dict = field(default_factory=dict)
    loss_curve: tuple[float, ...] = ()
    backbone_id: str = ""
    backbone_hash: str = ""
    job_id: int | None = None
    unit_key: str | None = None
    meta: dict = field(default_factory=dict)
    created_at: str = ""
    id: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"artifact kind must be one of {KINDS}, got {self.kind!r}")
        if self.scope not in SCOPES:
            raise ValueError(f"artifact scope must be one of {SCOPES}, got {self.scope!r}")

    def ref(self) -> dict:
        """How a recipe names this artifact: id and content hash."""
        return {"id": self.id, "sha256": self.sha256, "kind": self.kind, "name": self.name}

    def to_row(self) -> dict:
        row = asdict(self)
        row.pop("id")
        row["sample_ids"] = dumps(list(self.sample_ids))
        row["loss_curve"] = dumps([round(float(v), 6) for v in self.loss_curve])
        row["config"], row["meta"] = dumps(self.config), dumps(self.meta)
        row["created_at"] = self.created_at or now()
        return row

    @classmethod
    def from_row(cls, row: dict) -> Artifact:
        values = {k: row.get(k) for k in cls.__dataclass_fields__}
        values["sample_ids"] = tuple(loads(row.get("sample_ids"), []))
        values["loss_curve"] = tuple(loads(row.get("loss_curve"), []))
        values["config"] = loads(row.get("config"), {})
        values["meta"] = loads(row.get("meta"), {})
        return cls(**values)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ArtifactsMixin:
    def artifacts_dir(self, job_id: int | None = None) -> Path:
        """`<project>/artifacts`, or the folder of one job's files."""
        root = self.root / ARTIFACTS_DIR
        return root if job_id is None else root / f"job-{int(job_id)}"

    def add_artifacts(
        self, artifacts: list[Artifact], job_id: int | None = None, unit_key: str | None = None
    ) -> list[int]:
        """Insert a unit's artifact rows and mark the unit done, in one transaction.

        The files must already be in place (written first, so a crash never leaves a row without
        its file). A unit already done is skipped: a resumed job never duplicates artifacts.
        """
        with self.write() as db:
            if job_id is not None and unit_key is not None and self.unit_done(job_id, unit_key):
                return []
            ids = []
            for artifact in artifacts:
                row = artifact.to_row() | {"job_id": job_id, "unit_key": unit_key}
                ids.append(db["artifacts"].insert(row).last_pk)
            if job_id is not None and unit_key is not None:
                db["job_units"].insert({"job_id": job_id, "unit_key": unit_key, "done_at": now()})
        return ids

    def get_artifact(self, artifact_id: int) -> Artifact:
        rows = self.query("select * from artifacts where id = ?", [int(artifact_id)])
        if not rows:
            raise KeyError(f"no artifact with id {artifact_id}")
        return Artifact.from_row(rows[0])

    def list_artifacts(
        self,
        job_id: int | None = None,
        kind: str | None = None,
        method: str | None = None,
        concept: str | None = None,
    ) -> list[Artifact]:
        clauses, params = [], []
        for column, value in (("job_id", job_id), ("kind", kind), ("method", method)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if concept is not None:
            clauses.append("concept = ?")
            params.append(concept)
        where = (" where " + " and ".join(clauses)) if clauses else ""
        rows = self.query(f"select * from artifacts{where} order by id", params)
        return [Artifact.from_row(r) for r in rows]

    def artifact_path(self, artifact: Artifact) -> Path:
        return self.resolve(artifact.path, f"artifact {artifact.id}")

    def verified_artifact(self, artifact_id: int, sha256: str | None = None) -> Artifact:
        """The artifact, after checking its file exists and still has the recorded content.

        `sha256` (from a recipe) must also match the row's hash. Raises ValueError saying which
        artifact is missing or changed, and what it was.
        """
        try:
            artifact = self.get_artifact(artifact_id)
        except KeyError:
            raise ValueError(f"artifact {artifact_id} is not in this project") from None
        what = f"artifact {artifact.id} ({artifact.kind} {artifact.name!r} of {artifact.concept})"
        if sha256 is not None and sha256 != artifact.sha256:
            raise ValueError(
                f"{what} has hash {artifact.sha256[:12]} in the store, but {sha256[:12]} was used"
            )
        path = self.artifact_path(artifact)
        if not path.is_file():
            raise ValueError(f"{what} is missing: no file at {path}")
        if file_sha256(path) != artifact.sha256:
            raise ValueError(
                f"{what} changed: {path} no longer has hash {artifact.sha256[:12]} it was made with"
            )
        return artifact
