"""DynamoDB persistence (aioboto3): the Repository port, generic-repo's surface, provisioning.

Layout, access paths and trade-offs are documented in docs/dynamodb.md.
"""

from .backend import DynamoDbBackend
from .generic import AsyncGenericRepository, GenericRepository, ItemNotFound
from .repository import DynamoDbRepository
from .tables import Layout

__all__ = [
    "AsyncGenericRepository",
    "DynamoDbBackend",
    "DynamoDbRepository",
    "GenericRepository",
    "ItemNotFound",
    "Layout",
]
