"""List parameters shared by every collection route: filter, sort, page, include."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi import Query as QueryParam

from ...ports.errors import InvalidQuery
from ...ports.query import Query
from .deps import services_of

MAX_FILTER_CHARS = 4096
MAX_OFFSET = 10_000


@dataclass(frozen=True)
class ListParams:
    query: Query
    include: tuple[str, ...]


async def list_params(
    request: Request,
    limit: Annotated[int | None, QueryParam(description="Page size.")] = None,
    cursor: Annotated[
        str | None, QueryParam(max_length=4096, description="`next_cursor` of the previous page.")
    ] = None,
    offset: Annotated[
        int | None, QueryParam(description="Rows to skip (instead of a cursor).")
    ] = None,
    sort: Annotated[
        str | None, QueryParam(max_length=512, description="e.g. `-created_at,name`.")
    ] = None,
    filter: Annotated[
        str | None,
        QueryParam(
            max_length=MAX_FILTER_CHARS,
            description='JSON filter, e.g. `{"price": {"gte": 10}, "genre": ["fiction"]}`.',
        ),
    ] = None,
    include: Annotated[
        str | None, QueryParam(max_length=512, description="Relations, e.g. `author.publisher`.")
    ] = None,
) -> ListParams:
    # the page sizes read straight from the request: one dependency level fewer per list
    page_sizes = services_of(request).page_sizes
    size = page_sizes.default if limit is None else limit
    if not 1 <= size <= page_sizes.maximum:
        raise InvalidQuery(f"limit must be between 1 and {page_sizes.maximum}")
    if offset is not None and not 0 <= offset <= MAX_OFFSET:
        raise InvalidQuery(f"offset must be between 0 and {MAX_OFFSET}; use the cursor beyond")
    includes = tuple(p.strip() for p in include.split(",") if p.strip()) if include else ()
    return ListParams(
        Query(
            filter=_parse_json_filter(filter), sort=sort, limit=size, cursor=cursor, offset=offset
        ),
        includes,
    )


def _parse_json_filter(raw: str | None) -> dict[str, Any] | None:
    if raw is None or not raw.strip():
        return None
    try:
        parsed = json.loads(raw, parse_constant=_not_json)
    except json.JSONDecodeError as exc:
        raise InvalidQuery(f"filter is not valid JSON: {exc.msg}") from exc
    except RecursionError as exc:
        raise InvalidQuery("filter is nested too deeply") from exc
    if not isinstance(parsed, dict):
        raise InvalidQuery("filter must be a JSON object")
    return parsed


ListParamsDep = Annotated[ListParams, Depends(list_params)]


def _not_json(constant: str) -> Any:
    raise InvalidQuery(f"filter is not valid JSON: {constant} is not a JSON value")
