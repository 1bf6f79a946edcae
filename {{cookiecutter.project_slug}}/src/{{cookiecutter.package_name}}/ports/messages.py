"""The outgoing-message port: what the service would e-mail or text to an account's owner.

Identity flows never put a code or a password in a response: they hand an ``OutgoingMessage`` to
a ``MessageSender``. Adapters: ``adapters/messages`` (an in-memory outbox for tests, a logging
sender for sandboxes). A team plugs its mail or SMS service in by implementing ``send``.

Some messages carry no secret: ``ACCOUNT_EXISTS`` tells the owner of a username that someone
tried to register it again (registration answers the same either way, so the answer itself
cannot be used to find accounts), ``PASSWORD_CHANGED`` tells the owner their password changed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class MessagePurpose(enum.StrEnum):
    CONFIRM_REGISTRATION = "confirm_registration"
    RESET_PASSWORD = "reset_password"
    SEED_PASSWORD = "seed_password"
    ACCOUNT_EXISTS = "account_exists"
    PASSWORD_CHANGED = "password_changed"


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message to an account's owner; ``code`` is the secret it delivers, if any."""

    purpose: str
    username: str
    email: str | None
    code: str = field(default="", repr=False)


@runtime_checkable
class MessageSender(Protocol):
    """Delivers messages to account owners. ``send`` should not raise for a delivery problem
    the caller cannot fix (queue it, log it): the flow that sends has already changed state."""

    async def send(self, message: OutgoingMessage) -> None:
        """Deliver (or queue) ``message``."""
        ...
