"""The backend's asyncpg connections: a pool whose checkout and return cost no round trip.

SQLAlchemy's pool (through its asyncpg adapter and events) and asyncpg's own pool (a reset
query and a shielded task on every release) add work per call that a single statement does
not need. This pool does only what the backend relies on:

- at most ``size + overflow`` connections; a caller waits up to ``timeout`` seconds for one,
  first come first served (``TimeoutError`` past it), and opening one is bounded the same way;
- idle connections are reused last in, first out (their prepared statements are warm); at most
  ``size`` stay idle, and one older than ``recycle`` seconds is closed instead of reused;
- a connection the server or the network closed is noticed at checkout and replaced; one given
  back inside a transaction, or in an unknown state (its caller was cancelled mid-statement,
  the connection failed), is closed, never reused;
- every connection opens with the session settings (``server_settings``: statement timeout,
  time zone) in its start-up packet and JSON codecs, so nothing is set per checkout.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import asyncpg
from asyncpg.connection import LoggedQuery

from .schema import json_dumps
from .statements import CopyIn

log = logging.getLogger(__name__)

QueryLogger = Callable[[asyncpg.Connection, LoggedQuery], None]


class ConnectionPool:
    """asyncpg connections to one database; see the module docstring for the rules."""

    def __init__(
        self,
        connect_args: Mapping[str, Any],
        *,
        size: int,
        overflow: int,
        timeout: float,
        recycle: float = 1800.0,
        echo: bool = False,
    ) -> None:
        self._connect_args = dict(connect_args)
        self._size = max(1, size)
        self._timeout = timeout
        self._recycle = recycle
        self._free = self._size + max(0, overflow)  # slots: connections that may still open
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._idle: list[asyncpg.Connection] = []
        self._born: dict[asyncpg.Connection, float] = {}  # every open connection
        self._closing: set[asyncio.Task[None]] = set()
        # logger -> its callback on each connection (asyncpg removes a callback by identity)
        self._loggers: dict[QueryLogger, dict[asyncpg.Connection, Any]] = {}
        if echo:
            self._loggers[_echo] = {}
        self._closed = False

    # --- checkout and return -----------------------------------------------------------------

    async def acquire(self) -> asyncpg.Connection:
        """A live connection: an idle one, else a new one once a slot is free."""
        if self._closed:
            raise asyncpg.InterfaceError("the connection pool is closed")
        if self._free and not self._waiters:
            self._free -= 1
        else:
            await self._wait_for_slot()
        try:
            idle, now = self._idle, time.monotonic()
            while idle:
                conn = idle.pop()
                if conn.is_closed() or now - self._born[conn] > self._recycle:
                    self._drop(conn)
                    continue
                return conn
            return await self._connect()
        except BaseException:
            self._free_slot()
            raise

    async def _wait_for_slot(self) -> None:
        """Wait (first come, first served) until a slot is handed over, ``timeout`` at most."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self._timeout):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self._free_slot()  # handed a slot just as it gave up: pass it on
            if isinstance(exc, TimeoutError):
                raise TimeoutError("timed out waiting for a connection") from None
            raise

    def _free_slot(self) -> None:
        """A slot is free: hand it to the first caller still waiting, else keep it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1

    def release(self, conn: asyncpg.Connection) -> None:
        """Give a connection back after its caller is done with it (the server answered)."""
        if (
            self._closed
            or conn.is_closed()
            or conn.is_in_transaction()
            or len(self._idle) >= self._size
        ):
            self._drop(conn)
        else:
            self._idle.append(conn)
        self._free_slot()

    def discard(self, conn: asyncpg.Connection) -> None:
        """Give back a connection whose state is unknown: it is closed at once."""
        self._forget(conn)
        conn.terminate()
        self._free_slot()

    # --- opening and closing -----------------------------------------------------------------

    async def _connect(self) -> asyncpg.Connection:
        async with asyncio.timeout(self._timeout):
            conn: asyncpg.Connection = await asyncpg.connect(**self._connect_args)
            try:
                # Binary, so that COPY (which takes every column in binary) can write them too.
                await conn.set_type_codec(
                    "jsonb",
                    schema="pg_catalog",
                    encoder=_jsonb_dumps,
                    decoder=_jsonb_loads,
                    format="binary",
                )
                await conn.set_type_codec(
                    "json",
                    schema="pg_catalog",
                    encoder=_json_dumps,
                    decoder=json.loads,
                    format="binary",
                )
            except BaseException:
                conn.terminate()
                raise
        self._born[conn] = time.monotonic()
        for logger in self._loggers:
            self._watch(conn, logger)
        return conn

    def _drop(self, conn: asyncpg.Connection) -> None:
        """Close a connection that is not coming back: politely when it still works."""
        self._forget(conn)
        if conn.is_closed() or conn.is_in_transaction():
            conn.terminate()
            return
        task = asyncio.get_running_loop().create_task(_close(conn))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Close every connection; ones still in use are closed when they are given back."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            self._drop(conn)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    # --- observing ---------------------------------------------------------------------------

    def add_query_logger(self, logger: QueryLogger) -> None:
        """Call ``logger(connection, query)`` soon after every statement, on every connection
        (asyncpg's query loggers: they cost nothing while there are none)."""
        self._loggers.setdefault(logger, {})
        for conn in self._born:
            self._watch(conn, logger)

    def remove_query_logger(self, logger: QueryLogger) -> None:
        for conn, callback in self._loggers.pop(logger, {}).items():
            conn.remove_query_logger(callback)

    async def copy_records(
        self, conn: asyncpg.Connection, copy: CopyIn, records: Sequence[Sequence[Any]]
    ) -> None:
        """``records`` (values in ``copy.columns`` order) written by one ``COPY ... FROM
        STDIN``: all or nothing, like any statement. The query loggers hear of it as of any
        statement (asyncpg reports only those it prepares)."""
        started = time.monotonic()
        failure: BaseException | None = None
        try:
            await conn.copy_records_to_table(
                copy.table, schema_name=copy.schema, columns=copy.columns, records=records
            )
        except BaseException as exc:
            failure = exc
            raise
        finally:
            callbacks = [each[conn] for each in self._loggers.values() if conn in each]
            if callbacks:
                query = LoggedQuery(
                    query=copy.sql,
                    args=(),
                    timeout=None,
                    elapsed=time.monotonic() - started,
                    exception=failure,
                    conn_addr=None,
                    conn_params=None,
                )
                loop = asyncio.get_running_loop()
                for callback in callbacks:  # soon after, as asyncpg calls them
                    loop.call_soon(callback, query)

    def _watch(self, conn: asyncpg.Connection, logger: QueryLogger) -> None:
        callback = self._loggers[logger][conn] = functools.partial(logger, conn)
        conn.add_query_logger(callback)

    def _forget(self, conn: asyncpg.Connection) -> None:
        self._born.pop(conn, None)
        for callbacks in self._loggers.values():
            callbacks.pop(conn, None)


_decoder: Any = json.JSONDecoder()
_scan: Callable[[str, int], tuple[Any, int]] = _decoder.scan_once


_JSONB_VERSION = 1  # the first byte of JSONB's binary form; the JSON text follows
_JSONB_PREFIX = bytes([_JSONB_VERSION])


def _jsonb_dumps(value: Any) -> bytes:
    return _JSONB_PREFIX + json_dumps(value).encode()


def _json_dumps(value: Any) -> bytes:
    return json_dumps(value).encode()


# Empty lists and dicts, the commonest JSONB values (a field's default), made without a decoder.
_EMPTY_JSONB: dict[bytes, Callable[[], Any]] = {
    _JSONB_PREFIX + b"[]": list,
    _JSONB_PREFIX + b"{}": dict,
}


def _jsonb_loads(data: bytes) -> Any:
    """A JSONB value from its binary form: PostgreSQL prints the text canonically (no
    whitespace around it), so the decoder's scanner reads it without ``json.loads``' checks."""
    empty = _EMPTY_JSONB.get(data)
    if empty is not None:
        return empty()
    if data[0] != _JSONB_VERSION:
        raise ValueError(f"unknown JSONB binary format version {data[0]}")
    text = data.decode()  # the version byte decodes to one character, skipped by the scan
    try:
        value, end = _scan(text, 1)
    except StopIteration:
        return json.loads(text[1:])  # raises the decoder's own error
    return value if end == len(text) else json.loads(text[1:])


async def _close(conn: asyncpg.Connection) -> None:
    try:
        await conn.close(timeout=5)
    except Exception:  # closing anyway: nothing to tell anyone
        conn.terminate()


def _echo(conn: asyncpg.Connection, query: LoggedQuery) -> None:
    """``echo``: every statement to the log, as SQLAlchemy's ``echo`` did."""
    log.info("%s %r (%.2f ms)", query.query, query.args, query.elapsed * 1000)
