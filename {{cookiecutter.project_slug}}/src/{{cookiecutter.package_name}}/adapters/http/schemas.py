"""Pieces every route shares to turn entities into JSON and PATCH bodies into changes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ...ports.errors import InvalidInput
from ...ports.repository import Populated
from ...ports.schema import schema_of
from ..persistence.codec import to_record

MAX_VERSION = 2**63 - 1  # a 64-bit integer on every backend


def populated_dict(node: Populated[Any]) -> dict[str, Any]:
    """An entity with its populated relations as one nested dict (only the ones asked for)."""
    data = to_record(node.entity)
    for name, related in node.related.items():
        if related is None:
            data[name] = None
        elif isinstance(related, list):
            data[name] = [populated_dict(child) for child in related]
        else:
            data[name] = populated_dict(related)
    return data


def changes_of(patch: BaseModel, entity: type[Any]) -> dict[str, Any]:
    """The fields a PATCH body actually sets (``version`` is the guard, not a change).

    ``null`` clears only fields the entity declares optional.
    """
    changes = patch.model_dump(exclude_unset=True, exclude={"version"})
    fields = schema_of(entity).fields
    for name, value in changes.items():
        if value is None and not fields[name].optional:
            raise InvalidInput(f"{name} cannot be null")
    return changes
