"""PostgreSQL persistence: typed tables from the registry, SQLAlchemy 2 async + asyncpg."""

from .backend import PostgresBackend
from .repository import PostgresRepository
from .schema import build_metadata

__all__ = ["PostgresBackend", "PostgresRepository", "build_metadata"]
