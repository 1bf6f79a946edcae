"""The application's use cases, built once by the container and found by their class.

A feature declares how to build its use cases (``Feature.use_cases``); the container builds
them all with the started repositories, and an HTTP route asks for one by its class
(``Depends(use_case(LibraryService))``), so routes never construct application objects.
"""

from __future__ import annotations

from collections.abc import Iterable


class UseCases:
    """Every feature's application services, one instance per class."""

    def __init__(self, services: Iterable[object] = ()) -> None:
        self._by_class: dict[type, object] = {}
        for service in services:
            kind = type(service)
            if kind in self._by_class:
                raise ValueError(f"two features provide {kind.__name__}")
            self._by_class[kind] = service

    def get[T](self, kind: type[T]) -> T:
        """The instance of ``kind``; ``LookupError`` naming it when no feature provides it."""
        service = self._by_class.get(kind)
        if not isinstance(service, kind):
            raise LookupError(f"no feature provides {kind.__name__}: add it to Feature.use_cases")
        return service
