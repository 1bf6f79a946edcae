"""The /auth throttle's counters (``adapters/throttle``): one row per account or client
address being counted, named by a keyed digest (never the username or the address itself).

``expires_at`` is the entity's ``ttl_field``: expired rows are invisible to every read, and
``repository.purge_expired()`` from a periodic job reclaims them (PostgreSQL has no TTL).

Revision ID: 0004_throttle_counters
Revises: 0003_identity_tables
Create Date: 2025-01-04 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_throttle_counters"
down_revision: str | Sequence[str] | None = "0003_identity_tables"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "throttle_counters",
        sa.Column("id", sa.Text(collation="C"), nullable=False),
        sa.Column("scope", sa.Text(collation="C"), nullable=False),
        sa.Column("attempts", sa.BigInteger(), nullable=False),
        sa.Column("window_started", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("locked_until", sa.Double(), nullable=False),
        sa.Column("lockouts", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_throttle_counters"),
    )
    op.create_index(
        "ix_throttle_counters_expires_at", "throttle_counters", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_table("throttle_counters")
