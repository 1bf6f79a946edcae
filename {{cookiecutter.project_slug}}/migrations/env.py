"""Alembic environment: the target schema is the entity registry's metadata.

``build_metadata`` derives every table, typed column, index (compound unique ones included)
and foreign key (a relation with ``on_delete``) from what ``registrations.py`` declares, the
same metadata the service uses when it creates tables on start-up, so ``alembic revision
--autogenerate`` drafts exactly the change a new field, entity or rule needs.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from {{cookiecutter.package_name}}.adapters.persistence.postgres import build_metadata
from {{cookiecutter.package_name}}.registrations import build_registry
from {{cookiecutter.package_name}}.settings import Settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = build_metadata(build_registry())


def database_url() -> str:
    """``-x url=...``, else ``sqlalchemy.url``, else the service's own settings."""
    url = context.get_x_argument(as_dictionary=True).get("url")
    url = url or config.get_main_option("sqlalchemy.url")
    if not url:
        url = Settings().postgres_url
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


def configure(**options: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        **options,  # type: ignore[arg-type]
    )


def run_migrations_offline() -> None:
    """``alembic upgrade head --sql``: print the SQL instead of running it."""
    configure(url=database_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_sync_migrations(connection: Connection) -> None:
    configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = create_async_engine(database_url(), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_sync_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
