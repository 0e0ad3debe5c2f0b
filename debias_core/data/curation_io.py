"""Curation in and out: decisions and tags as a CSV, and the export folder as one zip file.

`curation.csv` holds one row per sample a person decided (accepted / rejected) or with any tag:
`sample_id, sha256, source, status, tags, reason, reviewer` (tags joined by ';'). Importing it
makes each listed sample's status and tags what the file says, by appending ordinary decisions
and tag events (never editing history); rows whose sha256 does not match the project's image are
refused, so a file from another project cannot decide the wrong images (a file without a sha256
column is applied only when asked explicitly). Nothing is written unless the whole file is valid.

Text cells that a spreadsheet would run as a formula (starting with = + - @, tab or carriage
return) are written with a leading `'`, as OWASP's CSV-injection guidance says; the import strips
it again, so every reason and tag comes back exactly. The file is read as a stream with bounded
lines and size (limits.py), as UTF-8; a file that breaks a bound is refused without echoing it.
"""

from __future__ import annotations

import codecs
import csv
import io
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from debias_core.data.export import export_project
from debias_core.ids import parse_id, shown
from debias_core.limits import MAX_CURATION_BYTES, MAX_CURATION_LINE
from debias_core.store import Store
from debias_core.store.tags import parse_tags

CSV_COLUMNS = ["sample_id", "sha256", "source", "status", "tags", "reason", "reviewer"]
STATUSES = ("pending", "accepted", "rejected")
MAX_ROWS = 1_000_000
TEXT_COLUMNS = ("tags", "reason", "reviewer")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SAVE_AS_UTF8 = "a curation CSV must be UTF-8 (in a spreadsheet: save as 'CSV UTF-8')"
NO_CHECK_HINT = (
    "export it again with `curation-export` (it writes sha256), or apply it unchecked with "
    "--no-sha256-check (the app: tick 'without sha256 check')"
)


def _escaped(text: str) -> bool:
    """`text` starts with the `'` escape_cell adds (or a person typed in front of one)."""
    return text.startswith("'") and text[1:2] != "" and text[1:].startswith(("'", *FORMULA_STARTS))


def escape_cell(text: str) -> str:
    """A cell a spreadsheet shows as text: a leading `'` before a formula start (or a `'`)."""
    return "'" + text if text.startswith(FORMULA_STARTS) or _escaped(text) else text


def unescape_cell(text: str) -> str:
    """The inverse of escape_cell (a hand-typed `'abc` stays as it is)."""
    return text[1:] if _escaped(text) else text


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
        for row in rows:
            writer.writerow(row | {c: escape_cell(str(row[c])) for c in TEXT_COLUMNS})
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


def _read_plan(store: Store, path: Path, check_sha256: bool = True) -> list[_Planned]:
    """Parse and check every row before anything is written."""
    path = Path(path)
    name = path.name
    with _open_text(path) as fh:
        reader = csv.DictReader(_bounded_lines(fh, name))
        try:
            columns = reader.fieldnames or []
            _check_columns(name, columns, check_sha256)
            plan, seen = [], set()
            for line, row in enumerate(reader, start=2):
                if line > MAX_ROWS + 1:
                    raise ValueError(f"{name}: more than {MAX_ROWS:,} rows")
                plan.append(_plan_row(store, name, line, row, seen, check_sha256))
        except csv.Error as exc:  # e.g. a quoted field longer than the field limit
            where = f"near line {reader.reader.line_num}"
            raise ValueError(f"{name} is not a valid curation CSV {where}: {exc}") from None
        except UnicodeDecodeError:
            raise ValueError(f"{name} is not UTF-8 text; {SAVE_AS_UTF8}") from None
    return plan


def _check_columns(name: str, columns: list, check_sha256: bool) -> None:
    """The header names the columns this import needs (never echoed: it may be any file)."""
    if "sample_id" not in columns or not {"status", "tags"} & set(columns):
        raise ValueError(
            f"{name} is not a curation CSV: it needs a 'sample_id' column and a 'status' or "
            f"a 'tags' column (curation-export writes {', '.join(CSV_COLUMNS)})"
        )
    if check_sha256 and "sha256" not in columns:
        raise ValueError(
            f"{name} has no 'sha256' column, so nothing checks that its ids are this project's "
            f"images; {NO_CHECK_HINT}"
        )


def _open_text(path: Path) -> io.TextIOWrapper:
    """The file as UTF-8 text (a BOM is skipped); UTF-16 is named, a huge file refused unread."""
    fh = path.open("rb")
    try:
        size = path.stat().st_size if path.is_file() else 0
        if size > MAX_CURATION_BYTES:
            raise ValueError(
                f"{path.name} is {size:,} bytes; a curation CSV is at most "
                f"{MAX_CURATION_BYTES:,} bytes"
            )
        if fh.peek(2)[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            raise ValueError(f"{path.name} is UTF-16 text; {SAVE_AS_UTF8}")
    except BaseException:
        fh.close()
        raise
    return io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")


def _bounded_lines(fh: io.TextIOWrapper, name: str) -> Iterator[str]:
    """The file's lines, each read with a bound, so /dev/zero or a file without newlines ends
    in a message (and SIGTERM is seen between reads) instead of filling memory."""
    total, number = 0, 0
    while line := fh.readline(MAX_CURATION_LINE + 2):
        number += 1
        total += len(line)
        if len(line.rstrip("\r\n")) > MAX_CURATION_LINE:
            raise ValueError(
                f"{name} line {number} is longer than {MAX_CURATION_LINE:,} characters "
                "(the limit of a curation CSV line)"
            )
        if total > MAX_CURATION_BYTES:
            raise ValueError(f"{name} is larger than {MAX_CURATION_BYTES:,} bytes (the limit)")
        yield line


def _plan_row(
    store: Store, name: str, line: int, row: dict, seen: set, check_sha256: bool = True
) -> _Planned:
    where = f"{name} line {line}"
    try:
        sample_id = parse_id(row.get("sample_id") or "", "sample_id")
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    if sample_id in seen:
        raise ValueError(f"{where}: sample {sample_id} is listed twice")
    seen.add(sample_id)
    try:
        sample = store.get_sample(sample_id)
    except KeyError:
        raise ValueError(f"{where}: no sample with id {sample_id} in this project") from None
    sha = (row.get("sha256") or "").strip()
    if check_sha256 and not sha:
        raise ValueError(f"{where}: sample {sample_id} has no sha256; {NO_CHECK_HINT}")
    if sha and sha != sample.sha256:
        raise ValueError(f"{where}: sample {sample_id} is a different image (sha256 differs)")
    status = row.get("status")
    if status is not None:
        status = status.strip() or "pending"
        if status not in STATUSES:
            raise ValueError(f"{where}: status must be one of {STATUSES}, got {shown(status)}")
        if status != "pending" and sample.source != "generated":
            raise ValueError(f"{where}: sample {sample_id} is real; only generated are decided")
    try:
        tags = None if row.get("tags") is None else parse_tags(unescape_cell(row["tags"]))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return _Planned(sample_id, status, tags, _reason(row.get("reason") or ""))


def _reason(cell: str) -> str:
    """An escaped cell exactly as exported; a hand-typed one trimmed."""
    text = unescape_cell(cell)
    return text if text != cell else cell.strip()


def import_curation_csv(
    store: Store, path: Path, reviewer: str, check_sha256: bool = True
) -> ImportResult:
    """Make statuses and tags what the CSV says, appending decisions / tag events in one go.

    `check_sha256=False` applies a file without a sha256 column (or with empty cells) unchecked.
    """
    if not reviewer:
        raise ValueError("an import needs a reviewer name")
    plan = _read_plan(store, path, check_sha256)
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
