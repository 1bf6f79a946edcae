"""Seed the first administrator from settings (``ADMIN_EMAIL`` / ``ADMIN_PASSWORD``)."""

from __future__ import annotations

from collections.abc import Sequence

from ..ports.identity import IdentityProvider
from .seeding import Seeder


def admin_seeder(
    identity: IdentityProvider, email: str, password: str, roles: Sequence[str]
) -> Seeder:
    """Create the account confirmed if it is missing, and grant ``roles``; idempotent.

    The password is only used on creation: a changed ``ADMIN_PASSWORD`` never resets an
    existing account's password behind its owner's back.
    """

    async def seed() -> None:
        await identity.ensure_user(email, email, password, roles=tuple(dict.fromkeys(roles)))

    return seed
