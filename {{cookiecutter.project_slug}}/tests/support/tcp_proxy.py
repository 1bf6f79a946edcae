"""A loopback TCP proxy between the service and a real backend server, which a test can cut.

Outages are simulated on the network path, not by mocking a driver:

- ``cut()``: the listener closes and every open connection is reset, as when the server
  process dies (new connections are refused);
- ``stall()``: connections stay open and new ones are accepted, but no byte moves in either
  direction, as in a network partition (calls hang until someone's timeout);
- ``sever()``: the server side of every open connection is gone, but the client only finds
  out when it next sends (its request goes nowhere and its connection is reset), as with a
  connection a NAT or a failover dropped silently;
- ``restore()``: listen again on the same port / let the bytes flow again.

It also counts what crosses it: ``connections`` accepted and ``round_trips``, each a burst
of bytes from the client that follows a reply from the server (or opens the connection), so
a request the client sends in several writes, or several requests it pipelines before
reading, count once: that is the latency the client waits for.

It runs on the test's event loop, like the app under test (httpx ``ASGITransport``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

CHUNK = 65_536


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._turns: set[_Turn] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.connections = 0  # accepted so far (tests check the service really went through)
        self.round_trips = 0  # client bursts that follow a server reply, over every connection

    async def start(self) -> int:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def cut(self) -> None:
        """Refuse new connections and reset the open ones."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            transport = writer.transport
            if isinstance(transport, asyncio.Transport):
                transport.abort()
        self._writers.clear()
        await asyncio.sleep(0)

    def sever(self) -> None:
        """Drop the open connections' server side; each client learns of it when it sends."""
        for turn in self._turns:
            turn.severed = True

    def stall(self) -> None:
        """Keep every connection open but move no data (a partition: calls hang)."""
        self._flowing.clear()

    async def restore(self) -> None:
        self._flowing.set()
        if self._server is None:
            await self.start()

    async def close(self) -> None:
        self._flowing.set()
        await self.cut()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            self._writers.discard(writer)
            return
        self._writers.add(up_writer)
        turn = _Turn()
        self._turns.add(turn)
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer, turn, upstream=True)),
            asyncio.create_task(self._pump(up_reader, writer, turn, upstream=False)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pumps:
                task.cancel()
            for end in (writer, up_writer):
                end.transport.abort()
                self._writers.discard(end)
            self._tasks.difference_update(pumps)
            self._turns.discard(turn)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        turn: _Turn,
        *,
        upstream: bool,
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                await self._flowing.wait()
                data = await reader.read(CHUNK)
                if not data:
                    return
                await self._flowing.wait()  # stalled while reading: hold the bytes
                if upstream and turn.severed:
                    return  # nobody at the other end: the connection is reset
                if upstream and not turn.client_waiting:
                    self.round_trips += 1
                turn.client_waiting = upstream
                writer.write(data)
                await writer.drain()


class _Turn:
    """One proxied connection's state: whether the client spoke last (waiting for a reply),
    and whether its server side was severed."""

    client_waiting = False
    severed = False


@asynccontextmanager
async def tcp_proxy(host: str, port: int) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(host, port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
