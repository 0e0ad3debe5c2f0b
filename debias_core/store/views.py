"""Saved views: a named filter + sort over samples, and the sorted id lists they select."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

from debias_core.store.records import dumps, now
from debias_core.store.samples import _FROM, SCORE_SQL, SampleFilter

MAX_VIEW_NAME = 80


@dataclass(frozen=True)
class SavedView:
    """A filter and a sort: 'id', '-id', 'score:<scorer>' or '-score:<scorer>' ('-' = descending).

    Samples without a score of the sorting scorer come last either way.
    """

    filter: SampleFilter = field(default_factory=SampleFilter)
    sort: str = "id"

    def check_inputs(self) -> None:
        key = self.sort.removeprefix("-")
        if key != "id" and not (key.startswith("score:") and key.removeprefix("score:")):
            valid = "'id', '-id', 'score:<scorer>' or '-score:<scorer>'"
            raise ValueError(f"sort must be {valid}, got {self.sort!r}")

    def order_by(self) -> tuple[str, list]:
        direction = "desc" if self.sort.startswith("-") else "asc"
        key = self.sort.removeprefix("-")
        if key == "id":
            return f" order by s.id {direction}", []
        score = SCORE_SQL
        return f" order by {score} is null, {score} {direction}, s.id", [key[6:], key[6:]]

    def to_json(self) -> dict:
        values = {k: v for k, v in asdict(self.filter).items() if v is not None}
        if "ids" in values:
            values["ids"] = [int(i) for i in values["ids"]]
        return {"filter": values, "sort": self.sort}

    @classmethod
    def from_json(cls, data: dict) -> SavedView:
        known = {f.name for f in fields(SampleFilter)}
        raw = dict(data.get("filter") or {})
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown filter fields {unknown}; valid: {sorted(known)}")
        if "ids" in raw and raw["ids"] is not None:
            raw["ids"] = tuple(int(i) for i in raw["ids"])
        view = cls(SampleFilter(**raw), str(data.get("sort") or "id"))
        view.check_inputs()
        return view


class ViewsMixin:
    def view_ids(self, view: SavedView, limit: int | None = None, offset: int = 0) -> list[int]:
        """The ids a view selects, in its order (paged when `limit` is given)."""
        view.check_inputs()
        sql, params = view.filter.where()
        order, order_params = view.order_by()
        page = f" limit {int(limit)} offset {int(offset)}" if limit is not None else ""
        rows = self.db.conn.execute(
            f"select s.id{_FROM}{sql}{order}{page}", [*params, *order_params]
        ).fetchall()
        return [r[0] for r in rows]

    def save_view(self, name: str, view: SavedView) -> None:
        """Create or replace a named view."""
        name = " ".join(str(name).split())
        if not name or len(name) > MAX_VIEW_NAME:
            raise ValueError(f"a view name is 1-{MAX_VIEW_NAME} characters")
        view.check_inputs()
        view.filter.where()  # refuses a score range without a scorer before anything is saved
        data = view.to_json()
        stamp = now()
        with self.write() as db:
            old = db["saved_views"].rows_where("name = ?", [name])
            created = next(iter(old), {}).get("created_at", stamp)
            db["saved_views"].insert(
                {
                    "name": name,
                    "filter": dumps(data["filter"]),
                    "sort": data["sort"],
                    "created_at": created,
                    "updated_at": stamp,
                },
                replace=True,
            )

    def get_view(self, name: str) -> SavedView:
        rows = self.query("select * from saved_views where name = ?", [name])
        if not rows:
            raise KeyError(f"no saved view named {name!r}")
        return SavedView.from_json(
            {"filter": json.loads(rows[0]["filter"]), "sort": rows[0]["sort"]}
        )

    def list_views(self) -> list[str]:
        return [r["name"] for r in self.query("select name from saved_views order by name")]

    def delete_view(self, name: str) -> None:
        with self.write() as db:
            if not list(db["saved_views"].rows_where("name = ?", [name])):
                raise KeyError(f"no saved view named {name!r}")
            db["saved_views"].delete(name)
