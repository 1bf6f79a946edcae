"""MongoDB for the contract suite: a real server when ``TEST_MONGO_DSN`` is set, otherwise
mongoeco's wire-protocol server (``mongoeco[wire]``, Python 3.13+), started once per test
session on a free loopback port and spoken to by the real PyMongo driver.

Each test gets a database of its own, dropped afterwards.

mongoeco runs real session transactions (snapshot reads, writes invisible to others until
``commitTransaction``, ``abortTransaction`` discards them; a commit fails when anything was
written since the transaction's snapshot), but its ``hello`` names no replica set, so the
backend would take it for a standalone server: the suite forces ``transactions=True`` on it, so
units of work, ``add_many`` and cascading deletes run in real transactions. One fix is applied
to mongoeco 4.11's wire sessions (:func:`abort_failed_commits`): MongoDB aborts a transaction
whose commit fails with a write conflict and labels the error ``TransientTransactionError`` (so
drivers retry it); mongoeco left the transaction open, unlabelled, and ran the next commands
of the pooled session inside it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from {{cookiecutter.package_name}}.adapters.persistence.mongo import MongoBackend
from {{cookiecutter.package_name}}.adapters.persistence.registry import (
    EntityRegistry,
    PersistenceBackend,
)

from tests.support.services import unavailable

DSN_VARIABLE = "TEST_MONGO_DSN"
TIMEOUT_MS = 15_000  # generous: a 3 s budget failed on a busy machine


def abort_failed_commits() -> None:
    """Make mongoeco's failed commits behave like MongoDB's (see the module docstring)."""
    from mongoeco.errors import OperationFailure
    from mongoeco.wire.sessions import WireSessionStore

    original = WireSessionStore.commit_transaction
    if getattr(original, "aborts_on_failure", False):
        return

    def commit_transaction(self: WireSessionStore, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return original(self, body)
        except OperationFailure as exc:
            session = self._require_session(body)
            if session.transaction_active:
                session.abort_transaction()
            raise OperationFailure(
                str(exc),
                code=112,  # WriteConflict
                details={"codeName": "WriteConflict"},
                error_labels=("TransientTransactionError",),
            ) from exc

    commit_transaction.aborts_on_failure = True  # type: ignore[attr-defined]
    WireSessionStore.commit_transaction = commit_transaction  # type: ignore[method-assign]


class MongoecoServer:
    """mongoeco's wire server on a thread and event loop of its own (never the test's)."""

    def __init__(self) -> None:
        self._ready: concurrent.futures.Future[str] = concurrent.futures.Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="mongoeco-wire", daemon=True)

    def start(self) -> str:
        """Start serving; returns the ``mongodb://`` URI."""
        self._thread.start()
        return self._ready.result(timeout=15)

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            with suppress(RuntimeError):  # the loop is already closed
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread.ident is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)

    async def _serve(self) -> None:
        from mongoeco.wire.proxy import AsyncMongoEcoProxyServer

        abort_failed_commits()
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        proxy = AsyncMongoEcoProxyServer(host="127.0.0.1", port=0)
        await proxy.start()
        try:
            self._ready.set_result(proxy.address.uri)
            await self._stop.wait()
        finally:
            await proxy.close()


_emulator: dict[str, Any] = {}


def emulator_uri(config: pytest.Config | None = None) -> str:
    """The URI of the session's mongoeco server, started on first use.

    Raises ``ImportError`` when mongoeco[wire] is not installed (or Python is older than 3.13).
    """
    if "uri" not in _emulator:
        import mongoeco.wire.proxy  # noqa: F401  (fail fast, before starting a thread)

        server = MongoecoServer()
        _emulator["uri"] = server.start()
        if config is not None:
            config.add_cleanup(server.close)
        _emulator["server"] = server
    uri: str = _emulator["uri"]
    return uri


def on_emulator() -> bool:
    """True when the suite talks to mongoeco (no ``TEST_MONGO_DSN``)."""
    return not os.environ.get(DSN_VARIABLE)


def mongo_dsn(request: pytest.FixtureRequest) -> str:
    """``TEST_MONGO_DSN``, else the session's emulator; ``unavailable()`` when neither works."""
    dsn = os.environ.get(DSN_VARIABLE)
    if dsn:
        return dsn
    try:
        return emulator_uri(request.config)
    except ImportError as exc:
        unavailable(
            "mongo", f"set {DSN_VARIABLE} or install mongoeco[wire] on Python 3.13+ ({exc})"
        )
    except (OSError, TimeoutError, concurrent.futures.TimeoutError) as exc:
        unavailable("mongo", f"the mongoeco wire server did not start ({exc!r})")
    raise AssertionError("unreachable")  # pragma: no cover


@asynccontextmanager
async def scratch_database(dsn: str) -> AsyncIterator[str]:
    """A fresh database name on a reachable server, dropped on the way out."""
    name = f"contract_{uuid.uuid4().hex[:12]}"
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        dsn, serverSelectionTimeoutMS=TIMEOUT_MS
    )
    try:
        try:
            await client.admin.command("ping")
        except PyMongoError as exc:
            unavailable("mongo", f"{dsn}: {exc}")
        try:
            yield name
        finally:
            with suppress(PyMongoError):
                await client.drop_database(name)
    finally:
        await client.close()


@asynccontextmanager
async def open_mongo(
    request: pytest.FixtureRequest, registry: EntityRegistry
) -> AsyncIterator[PersistenceBackend]:
    dsn = mongo_dsn(request)
    async with scratch_database(dsn) as database:
        # mongoeco has transactions but does not say so (see the module docstring); a real
        # server is asked.
        transactions = True if on_emulator() else None
        yield MongoBackend(dsn, database, timeout_ms=TIMEOUT_MS, transactions=transactions)
