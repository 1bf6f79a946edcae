"""MongoDB persistence through PyMongo's native async API (``AsyncMongoClient``)."""

from .backend import MongoBackend, build_backend
from .repository import MongoRepository

__all__ = ["MongoBackend", "MongoRepository", "build_backend"]
