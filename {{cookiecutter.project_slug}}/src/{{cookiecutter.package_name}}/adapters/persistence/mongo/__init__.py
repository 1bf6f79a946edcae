"""MongoDB persistence through PyMongo's native async API (``AsyncMongoClient``)."""

from .backend import MongoBackend
from .repository import MongoRepository

__all__ = ["MongoBackend", "MongoRepository"]
