"""The accounts of ``IDENTITY_BACKEND=repository`` (``adapters/identity/repository``): users
with argon2id password hashes and their token version, login sessions (refresh secrets by
SHA-256 only) and pending confirmation and reset codes (by digest only). Sessions and codes
expire (``ttl_field``): ``purge_expired()`` from a periodic job reclaims their rows.

Revision ID: 0003_identity_tables
Revises: 0002
Create Date: 2025-01-03 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_identity_tables"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_accounts",
        sa.Column("id", sa.Text(collation="C"), nullable=False),
        sa.Column("username", sa.Text(collation="C"), nullable=False),
        sa.Column("email", sa.Text(collation="C"), nullable=False),
        sa.Column("password_hash", sa.Text(collation="C"), nullable=False),
        sa.Column("status", sa.Text(collation="C"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column(
            "roles", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), nullable=False
        ),
        sa.Column(
            "attributes", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), nullable=False
        ),
        sa.Column("token_version", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_identity_accounts"),
    )
    op.create_index("uq_identity_accounts_username", "identity_accounts", ["username"], unique=True)
    op.create_table(
        "identity_codes",
        sa.Column("id", sa.Text(collation="C"), nullable=False),
        sa.Column("digest", sa.Text(collation="C"), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("attempts_left", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_identity_codes"),
    )
    op.create_index("ix_identity_codes_expires_at", "identity_codes", ["expires_at"], unique=False)
    op.create_table(
        "identity_sessions",
        sa.Column("id", sa.Text(collation="C"), nullable=False),
        sa.Column("subject", sa.Text(collation="C"), nullable=False),
        sa.Column("username", sa.Text(collation="C"), nullable=False),
        sa.Column("current", sa.Text(collation="C"), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("previous", sa.Text(collation="C"), nullable=False),
        sa.Column("rotated_at", sa.Double(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_identity_sessions"),
    )
    op.create_index("ix_identity_sessions_subject", "identity_sessions", ["subject"], unique=False)
    op.create_index(
        "ix_identity_sessions_expires_at", "identity_sessions", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_identity_sessions_expires_at", table_name="identity_sessions")
    op.drop_index("ix_identity_sessions_subject", table_name="identity_sessions")
    op.drop_table("identity_sessions")
    op.drop_index("ix_identity_codes_expires_at", table_name="identity_codes")
    op.drop_table("identity_codes")
    op.drop_index("uq_identity_accounts_username", table_name="identity_accounts")
    op.drop_table("identity_accounts")
