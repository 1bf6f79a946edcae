"""``PrefixRouter``: an ``APIRouter`` that turns away at once a path outside its prefix.

Recent FastAPI keeps each included router as one entry of the app's routes and, for every
request, tries the routes of each router in turn until one matches: a request for ``/books/1``
pays a regex match against every ``/auth`` route first. Every route of an ``APIRouter`` starts
with its ``prefix`` (FastAPI prepends it), so a router can answer "none of mine" with one string
comparison instead. Where FastAPI copies the routes into the app (older versions), nothing calls
this; either way the routes, their order and the OpenAPI schema are a plain ``APIRouter``'s.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.routing import Match
from starlette.types import Scope


class PrefixRouter(APIRouter):
    """An ``APIRouter`` that checks the fixed part of its ``prefix`` before its routes."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        prefix = self.prefix.split("{", 1)[0]  # "/shops/{shop}/items": only "/shops/" is fixed
        if prefix:
            path: str = scope["path"]
            root_path: str = scope.get("root_path", "")
            if root_path and path.startswith(root_path):
                path = path[len(root_path) :]
            if not path.startswith(prefix):
                return Match.NONE, {}
        return super().matches(scope)
