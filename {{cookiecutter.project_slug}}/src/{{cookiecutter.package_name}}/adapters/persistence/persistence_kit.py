"""persistence-kit's compatibility API: ``register_entity``, ``get_repo`` and friends.

persistence-kit's API is module-level by design, so this module keeps module-level state, and
it is the only module-level state of the persistence wiring (everything else is built by the
container and passed along): ``default_registry`` holds the entities ``register_entity``
declares, and the active :class:`~.registry.RepositoryProvider` answers ``get_repo``. The app's
lifespan sets that provider (``activate``) once its backends are started, and clears it on
shutdown; a script can ``activate`` a started provider of its own.

persistence-kit's Quick Start, unchanged but for the imports::

    register_entity("user", {"entity": User, "collection": "users", "unique": {"email": "email"}})
    repo = get_repo("user")          # inside the running app: the lifespan activates it

Entities registered this way (or by the initializer given to ``set_registry_initializer``) join
the features' entities when ``registrations.build_registry`` builds the service's registry, so
every backend creates their tables and ``get_repo`` finds them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ...ports.repository import Repository, ViewRepository
from .specs import EntityRegistry, EntitySpec

if TYPE_CHECKING:
    from .registry import RepositoryProvider

default_registry = EntityRegistry()
_active: RepositoryProvider | None = None
_initializer: Callable[[], None] | None = None


def register_entity(name: str, config: EntitySpec[Any] | Mapping[str, Any]) -> EntitySpec[Any]:
    """Declare an entity the service will persist (call it before ``create_app()``)."""
    return default_registry.register(name, config)


def set_registry_initializer(initializer: Callable[[], None]) -> None:
    """Run ``initializer`` (which calls ``register_entity``) once, when the service builds its
    registry."""
    global _initializer
    _initializer = initializer


def ensure_registry_initialized() -> EntityRegistry:
    """The entities registered with ``register_entity``, the initializer run first if any."""
    global _initializer
    if _initializer is not None:
        initializer, _initializer = _initializer, None
        initializer()
    return default_registry


def activate(provider: RepositoryProvider | None) -> None:
    """Make ``provider`` the one ``get_repo`` answers from (the lifespan does this)."""
    global _active
    _active = provider


def active_provider(call: str) -> RepositoryProvider:
    """The running service's provider, or a ``RuntimeError`` saying how ``call`` can get one."""
    return _require_active(call)


def _require_active(call: str) -> RepositoryProvider:
    if _active is None:
        raise RuntimeError(
            f"{call} needs the running service: call it inside create_app()'s lifespan or a "
            "request, or activate(provider) a started RepositoryProvider first (scripts)"
        )
    return _active


def get_repo(name: str) -> Repository[Any]:
    """The repository of a registered entity, from the running service."""
    return _require_active(f"get_repo({name!r})").repo(name)


def get_repo_view(name: str) -> ViewRepository[Any]:
    """The populating view of a registered entity, from the running service."""
    return _require_active(f"get_repo_view({name!r})").view(name)
