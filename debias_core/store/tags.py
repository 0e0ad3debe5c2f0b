"""Free-text tags on samples: every add / remove is an append-only event with reviewer and reason.

`sample_tags` (the current tags) is derived from the events inside the same transaction, so
filters by tag stay a plain indexed lookup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from debias_core.store.records import now

MAX_TAG_LENGTH = 64
# ',' and ';' separate tags in text boxes and CSV cells, so they cannot be part of one.
_BAD_TAG = re.compile(r"[,;\x00-\x1f\x7f]")


def clean_tag(tag: str) -> str:
    """A tag as stored: trimmed, inner whitespace collapsed; refuses empty, long or odd ones."""
    text = " ".join(str(tag).split())
    if not text:
        raise ValueError("a tag cannot be empty")
    if len(text) > MAX_TAG_LENGTH:
        raise ValueError(f"a tag is at most {MAX_TAG_LENGTH} characters, got {len(text)}")
    if _BAD_TAG.search(text):
        raise ValueError(f"a tag cannot contain ',', ';' or control characters: {text!r}")
    return text


def parse_tags(text: str | Iterable[str] | None) -> list[str]:
    """'a, b;c' or ['a', 'b'] -> cleaned, de-duplicated tags in their first order."""
    if text is None:
        return []
    parts = re.split(r"[,;]", text) if isinstance(text, str) else list(text)
    out: list[str] = []
    for part in parts:
        if str(part).strip():
            tag = clean_tag(part)
            if tag not in out:
                out.append(tag)
    return out


class TagsMixin:
    def add_tags(
        self, sample_ids: Sequence[int], tags: Iterable[str], reviewer: str, reason: str = ""
    ) -> int:
        """Tag samples; returns how many (sample, tag) pairs are new (others are left as is)."""
        return self._change_tags(sample_ids, tags, "add", reviewer, reason)

    def remove_tags(
        self, sample_ids: Sequence[int], tags: Iterable[str], reviewer: str, reason: str = ""
    ) -> int:
        """Un-tag samples; returns how many (sample, tag) pairs were removed."""
        return self._change_tags(sample_ids, tags, "remove", reviewer, reason)

    def _change_tags(self, sample_ids, tags, action: str, reviewer: str, reason: str) -> int:
        if not reviewer:
            raise ValueError("tagging needs a reviewer name")
        tags = parse_tags(tags)
        if not tags:
            raise ValueError("name at least one tag")
        ids = sorted({int(i) for i in sample_ids})
        stamp, changed = now(), 0
        with self.write() as db:
            self._check_exist(ids)
            for tag in tags:
                have = self._ids_with_tag(ids, tag)
                todo = [i for i in ids if (i in have) == (action == "remove")]
                for sid in todo:
                    event = {
                        "sample_id": sid,
                        "tag": tag,
                        "action": action,
                        "reviewer": reviewer,
                        "reason": reason,
                        "created_at": stamp,
                    }
                    event_id = db["tag_events"].insert(event).last_pk
                    if action == "add":
                        db["sample_tags"].insert(
                            {"sample_id": sid, "tag": tag, "event_id": event_id}
                        )
                    else:
                        db["sample_tags"].delete((sid, tag))
                changed += len(todo)
        return changed

    def _ids_with_tag(self, ids: list[int], tag: str) -> set[int]:
        found: set[int] = set()
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            rows = self.db.conn.execute(
                f"select sample_id from sample_tags where tag = ? and sample_id in"
                f" ({','.join('?' * len(chunk))})",
                [tag, *chunk],
            ).fetchall()
            found.update(r[0] for r in rows)
        return found

    def tags_of(self, sample_id: int) -> list[str]:
        rows = self.query(
            "select tag from sample_tags where sample_id = ? order by tag", [int(sample_id)]
        )
        return [r["tag"] for r in rows]

    def tags_for(self, sample_ids: Sequence[int] | None = None) -> dict[int, list[str]]:
        """Current tags of the given samples (all tagged samples when None); untagged omitted."""
        rows = self.db.conn.execute(
            "select sample_id, tag from sample_tags order by sample_id, tag"
        ).fetchall()
        wanted = None if sample_ids is None else {int(i) for i in sample_ids}
        out: dict[int, list[str]] = {}
        for sid, tag in rows:
            if wanted is None or sid in wanted:
                out.setdefault(sid, []).append(tag)
        return out

    def tag_counts(self) -> dict[str, int]:
        rows = self.query("select tag, count(*) as n from sample_tags group by tag order by tag")
        return {r["tag"]: r["n"] for r in rows}

    def tag_history(self, sample_id: int) -> list[dict]:
        return self.query(
            "select * from tag_events where sample_id = ? order by id", [int(sample_id)]
        )
