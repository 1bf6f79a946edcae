"""CORS, from settings: nothing unless ``CORS_ALLOW_ORIGINS`` lists origins.

Starlette's ``CORSMiddleware`` answers preflights and adds the headers; it sits inside the
request-context middleware (a preflight has a request id and an access line too) and outside the
limits, so a 413 or a 503 still carries the CORS headers a browser needs to read it.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware


def install_cors(
    app: FastAPI,
    *,
    allow_origins: Sequence[str],
    allow_credentials: bool,
    allow_methods: Sequence[str],
    allow_headers: Sequence[str],
    expose_headers: Sequence[str],
    max_age: int,
) -> None:
    if not allow_origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(allow_origins),
        allow_credentials=allow_credentials,
        allow_methods=list(allow_methods),
        allow_headers=list(allow_headers),
        expose_headers=list(expose_headers),
        max_age=max_age,
    )
