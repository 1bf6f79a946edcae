"""The DynamoDB persistence backend: one aioboto3 client for the backend's life.

``start()`` enters the client context once (and provisions the tables when asked);
``close()`` leaves it. Repositories and the generic-repo surface all share that client.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import TYPE_CHECKING, Any, TypeVar

import aioboto3
from aiobotocore.config import AioConfig

from ....ports.errors import BackendUnavailable
from ....ports.repository import Repository
from ..registry import EntitySpec
from .errors import BACKEND, DRIVER_ERRORS, translate
from .tables import Layout, drop_tables, ensure_tables

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.client import DynamoDBClient

    from .generic import AsyncGenericRepository
    from .repository import DynamoDbRepository

T = TypeVar("T")


class DynamoDbBackend:
    """:class:`~..registry.PersistenceBackend` on DynamoDB (or moto / DynamoDB Local).

    ``data_expiration_days`` gives every item created through this backend a TTL of that
    many days (generic-repo's setting), unless its entity declares a ``ttl_field``.
    """

    name = "dynamodb"

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        endpoint_url: str | None = None,
        table_prefix: str = "",
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        data_expiration_days: int | None = None,
        session: aioboto3.Session | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        max_attempts: int = 3,
        batch_attempts: int = 8,
        max_pool_connections: int = 50,
    ) -> None:
        if data_expiration_days is not None and data_expiration_days <= 0:
            raise ValueError("data_expiration_days must be positive (or None for no expiry)")
        self.region = region
        self.endpoint_url = endpoint_url
        self.table_prefix = table_prefix
        self.data_expiration_days = data_expiration_days
        self.batch_attempts = batch_attempts
        self._session = session or aioboto3.Session()
        self._access_key_id = aws_access_key_id or None  # None: the default credential chain
        self._secret_access_key = aws_secret_access_key or None
        self._session_token = aws_session_token or None
        self._config = AioConfig(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            max_pool_connections=max_pool_connections,
        )
        self._stack: AsyncExitStack | None = None
        self._client: DynamoDBClient | None = None
        self._layouts: dict[str, Layout] = {}
        self._specs: dict[str, EntitySpec[Any]] = {}
        self._repositories: dict[str, DynamoDbRepository[Any]] = {}

    def __repr__(self) -> str:
        return f"DynamoDbBackend(region={self.region!r}, endpoint_url={self.endpoint_url!r})"

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self, specs: Sequence[EntitySpec[Any]], *, create_schema: bool) -> None:
        for spec in specs:
            self._specs[spec.name] = spec
        layouts = [self.layout(spec) for spec in specs]
        if self._client is None:
            stack = AsyncExitStack()
            try:
                self._client = await stack.enter_async_context(
                    self._session.client(
                        "dynamodb",
                        region_name=self.region,
                        endpoint_url=self.endpoint_url,
                        config=self._config,
                        aws_access_key_id=self._access_key_id,
                        aws_secret_access_key=self._secret_access_key,
                        aws_session_token=self._session_token,
                    )
                )
            except DRIVER_ERRORS as exc:
                await stack.aclose()
                raise translate(exc, "client") from exc
            self._stack = stack
        if create_schema and layouts:
            await ensure_tables(self.client, layouts)

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def ping(self) -> None:
        try:
            await self.client.list_tables(Limit=1)
        except RuntimeError as exc:
            raise BackendUnavailable(BACKEND, "not started") from exc
        except DRIVER_ERRORS as exc:
            raise translate(exc, "ping") from exc

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            raise RuntimeError("DynamoDbBackend.start() was not called (the lifespan opens it)")
        return self._client

    # --- tables ------------------------------------------------------------------------------

    def layout(self, spec: EntitySpec[Any]) -> Layout:
        layout = self._layouts.get(spec.name)
        if layout is None:
            layout = Layout.of(spec, self.table_prefix)
            self._layouts[spec.name] = layout
        return layout

    async def provision(self, specs: Sequence[EntitySpec[Any]]) -> list[str]:
        """Create the missing tables, GSIs and TTL settings of ``specs`` (idempotent)."""
        return await ensure_tables(self.client, [self.layout(s) for s in specs])

    async def drop(self, specs: Sequence[EntitySpec[Any]]) -> None:
        """Delete the tables of ``specs`` (tests and teardown scripts)."""
        await drop_tables(self.client, [self.layout(s) for s in specs])

    # --- repositories ------------------------------------------------------------------------

    @property
    def specs(self) -> list[EntitySpec[Any]]:
        """Every entity of this backend (``start`` is given them all: references need them)."""
        return list(self._specs.values())

    def repository(self, spec: EntitySpec[T]) -> Repository[T]:
        from .repository import DynamoDbRepository

        self._specs.setdefault(spec.name, spec)
        repo = self._repositories.get(spec.name)
        if repo is None or repo.spec is not spec:
            repo = DynamoDbRepository(spec, self, self.layout(spec))
            self._repositories[spec.name] = repo
        return repo

    def entity_repository(self, name: str) -> DynamoDbRepository[Any]:
        """The repository of the entity ``name`` (the target or child of a reference)."""
        if name not in self._repositories:
            if name not in self._specs:
                raise KeyError(f"entity {name!r} is not on this DynamoDB backend")
            self.repository(self._specs[name])
        return self._repositories[name]

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """A unit of work: writes staged, then sent as one TransactWriteItems (see
        ``unit_of_work``)."""
        from .unit_of_work import transaction

        return transaction(self)

    def generic_repository(
        self,
        table_name: str,
        primary_key_name: str,
        *,
        sort_key_name: str | None = None,
        data_expiration_days: int | None = None,
    ) -> AsyncGenericRepository:
        """generic-repo's surface on one (full-named) table, over this backend's client."""
        from .generic import AsyncGenericRepository

        return AsyncGenericRepository(
            table_name,
            primary_key_name,
            sort_key_name=sort_key_name,
            data_expiration_days=data_expiration_days,
            client=self.client,
            batch_attempts=self.batch_attempts,
        )
