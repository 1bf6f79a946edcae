"""Outgoing-message adapters (``ports/messages.py``).

- ``MemoryOutbox`` keeps every message in a list (tests read codes there).
- ``LoggingMessageSender`` writes them to the log: with ``reveal_codes`` (a developer's sandbox)
  the codes too, otherwise only what was sent to whom (production without a mail adapter).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ...ports.messages import OutgoingMessage

logger = logging.getLogger(__name__)


@dataclass
class MemoryOutbox:
    """Every message sent, oldest first."""

    sent: list[OutgoingMessage] = field(default_factory=list)

    async def send(self, message: OutgoingMessage) -> None:
        self.sent.append(message)

    def of(self, username: str, purpose: str | None = None) -> list[OutgoingMessage]:
        """The messages sent about ``username`` (of ``purpose``), oldest first."""
        return [
            m
            for m in self.sent
            if m.username == username and (purpose is None or m.purpose == purpose)
        ]

    def latest(self, username: str, purpose: str) -> str:
        """The code of the newest ``purpose`` message to ``username``."""
        found = self.of(username, purpose)
        if not found:
            raise LookupError(f"no {purpose} message was sent about {username!r}")
        return found[-1].code


@dataclass(frozen=True)
class LoggingMessageSender:
    """Logs each message; the code only when ``reveal_codes`` (never in production)."""

    reveal_codes: bool = False

    async def send(self, message: OutgoingMessage) -> None:
        if self.reveal_codes and message.code:
            logger.warning(
                "outgoing message (sandbox only): %s for %r: %s",
                message.purpose,
                message.username,
                message.code,
            )
        else:
            logger.info("outgoing message: %s for %r", message.purpose, message.username)
