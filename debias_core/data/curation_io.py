"""Curation in and out: decisions and tags as a CSV, and the export folder as one zip file.

`curation.csv` holds one row per sample a person decided (accepted / rejected) or with any tag:
`sample_id, sha256, source, status, tags, reason, reviewer` (tags joined by ';'). Importing it
makes each listed sample's status and tags what the file says, by appending ordinary decisions
and tag events (never editing history); rows whose sha256 does not match the project's image are
refused, so a file from another project cannot decide the wrong images. Nothing is written unless
the whole file is valid.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from debias_core.data.export import export_project
from debias_core.store import Store
from debias_core.store.tags import parse_tags

CSV_COLUMNS = ["sample_id", "sha256", "source", "status", "tags", "reason", "reviewer"]
STATUSES = ("pending", "accepted", "rejected")
MAX_ROWS = 1_000_000


def curation_rows(store: Store) -> list[dict]:
    """One row per sample a person decided (status after undos), or with tags.

    Only people's decisions travel: an import appends them as a person's, so a policy's verdict
    (accept / reject / needs-review) is left for the policy to make again where the file goes.
    """
    tags = store.tags_for()
    rows = store.query(
        "select s.id, s.sha256, s.source, coalesce(c.person_status, 'pending') as status,"
        " d.reason, d.reviewer from samples s left join curation c on c.sample_id = s.id"
        " left join decisions d on d.id = (select max(x.id) from decisions x"
        "   where x.sample_id = s.id and coalesce(x.origin, 'person') = 'person')"
        " order by s.id"
    )
    out = []
    for r in rows:
        if r["status"] == "pending" and r["id"] not in tags:
            continue
        out.append(
            {
                "sample_id": r["id"],
                "sha256": r["sha256"],
                "source": r["source"],
                "status": r["status"],
                "tags": ";".join(tags.get(r["id"], [])),
                "reason": r["reason"] or "",
                "reviewer": r["reviewer"] or "",
            }
        )
    return out


def write_curation_csv(store: Store, path: Path) -> int:
    rows = curation_rows(store)
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


@dataclass(frozen=True)
class ImportResult:
    rows: int
    decisions: int  # decisions appended
    tags_added: int
    tags_removed: int

    def message(self) -> str:
        return (
            f"imported {self.rows} rows: {self.decisions} decisions, "
            f"{self.tags_added} tags added, {self.tags_removed} removed"
        )


@dataclass(frozen=True)
class _Planned:
    sample_id: int
    status: str | None  # None: the file has no status column
    tags: list[str] | None  # None: the file has no tags column
    reason: str


def _read_plan(store: Store, path: Path) -> list[_Planned]:
    """Parse and check every row before anything is written."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        if "sample_id" not in columns:
            raise ValueError(f"{path.name}: needs a 'sample_id' column, has {columns}")
        if "status" not in columns and "tags" not in columns:
            raise ValueError(f"{path.name}: needs a 'status' or a 'tags' column")
        plan, seen = [], set()
        for line, row in enumerate(reader, start=2):
            if line > MAX_ROWS + 1:
                raise ValueError(f"{path.name}: more than {MAX_ROWS} rows")
            plan.append(_plan_row(store, path.name, line, row, seen))
    return plan


def _plan_row(store: Store, name: str, line: int, row: dict, seen: set) -> _Planned:
    where = f"{name} line {line}"
    try:
        sample_id = int(str(row.get("sample_id", "")).strip())
    except ValueError:
        raise ValueError(f"{where}: sample_id must be an integer") from None
    if sample_id in seen:
        raise ValueError(f"{where}: sample {sample_id} is listed twice")
    seen.add(sample_id)
    try:
        sample = store.get_sample(sample_id)
    except KeyError:
        raise ValueError(f"{where}: no sample with id {sample_id} in this project") from None
    sha = (row.get("sha256") or "").strip()
    if sha and sha != sample.sha256:
        raise ValueError(f"{where}: sample {sample_id} is a different image (sha256 differs)")
    status = row.get("status")
    if status is not None:
        status = status.strip() or "pending"
        if status not in STATUSES:
            raise ValueError(f"{where}: status must be one of {STATUSES}, got {status!r}")
        if status != "pending" and sample.source != "generated":
            raise ValueError(f"{where}: sample {sample_id} is real; only generated are decided")
    try:
        tags = None if row.get("tags") is None else parse_tags(row["tags"])
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return _Planned(sample_id, status, tags, (row.get("reason") or "").strip())


def import_curation_csv(store: Store, path: Path, reviewer: str) -> ImportResult:
    """Make statuses and tags what the CSV says, appending decisions / tag events in one go."""
    if not reviewer:
        raise ValueError("an import needs a reviewer name")
    plan = _read_plan(store, path)
    decisions = added = removed = 0
    note = f"import {Path(path).name}"
    with store.write():  # one transaction: the whole file or nothing
        for row in plan:
            reason = row.reason or note
            if row.status is not None:
                decisions += _set_status(store, row.sample_id, row.status, reviewer, reason)
            if row.tags is not None:
                have = set(store.tags_of(row.sample_id))
                extra, missing = sorted(have - set(row.tags)), sorted(set(row.tags) - have)
                if missing:
                    added += store.add_tags([row.sample_id], missing, reviewer, reason)
                if extra:
                    removed += store.remove_tags([row.sample_id], extra, reviewer, reason)
    return ImportResult(len(plan), decisions, added, removed)


def _set_status(store: Store, sample_id: int, status: str, reviewer: str, reason: str) -> int:
    """Append the decisions that bring a person's status of a sample to `status`; how many.

    'pending' undoes people's decisions only: policy verdicts are not a person's to revert.
    """
    current = store.verdicts_of(sample_id)["person"] or "pending"
    if current == status:
        return 0
    if status != "pending":
        store.decide([sample_id], "accept" if status == "accepted" else "reject", reviewer, reason)
        return 1
    count = 0
    while store.verdicts_of(sample_id)["person"] is not None:  # each undo pops one decision
        store.decide([sample_id], "undo", reviewer, reason)
        count += 1
    return count


def export_zip(
    store: Store, out_zip: Path, generated: bool = True, status: str = "accepted"
) -> Path:
    """The CLI's export (images + metadata.csv) plus curation.csv, as one zip file."""
    out_zip = Path(out_zip)
    if out_zip.suffix != ".zip":
        raise ValueError(f"the export file must end in .zip, got {out_zip.name}")
    if out_zip.exists():
        raise FileExistsError(f"{out_zip} exists; choose a new name")
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_zip.parent) as tmp:
        folder = Path(tmp) / out_zip.stem
        export_project(store, folder, generated, status)
        write_curation_csv(store, folder / "curation.csv")
        partial = Path(tmp) / "partial"
        archive = shutil.make_archive(str(partial), "zip", root_dir=tmp, base_dir=out_zip.stem)
        Path(archive).replace(out_zip)  # complete or absent: never a half-written zip
    return out_zip
