"""Sort orders: ``"-created_at,name"`` parsed into :class:`SortField` keys, validated against
an entity's schema (only scalar fields sort). Re-exported by :mod:`.query`, which adds the
id as the last key of every order so pages never shift."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import InvalidQuery
from .schema import EntitySchema


@dataclass(frozen=True)
class SortField:
    """One key of a sort order; str() gives the query syntax back (-field for descending)."""

    field: str
    descending: bool = False

    def __str__(self) -> str:
        return f"-{self.field}" if self.descending else self.field


def parse_sort(
    raw: str | Sequence[str | SortField] | None, schema: EntitySchema | None = None
) -> tuple[SortField, ...]:
    """``"-created_at,name"`` or ``["-created_at", "name"]`` -> sort fields, validated."""
    if raw is None or raw == "":
        return ()
    parts: Sequence[str | SortField] = raw.split(",") if isinstance(raw, str) else raw
    result: list[SortField] = []
    for part in parts:
        if isinstance(part, SortField):
            item = part
        else:
            text = part.strip()
            descending = text.startswith("-")
            item = SortField(text.lstrip("+-"), descending)
        if not item.field:
            raise InvalidQuery("empty sort field")
        if schema is not None:
            info = schema.resolve(item.field)
            if info is None or not info.sortable:
                raise InvalidQuery(f"cannot sort {schema.entity.__name__} by {item.field!r}")
        result.append(item)
    return tuple(result)
