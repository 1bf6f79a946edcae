"""Initial schema of the example domain: publishers, authors, books.

Generated with ``alembic revision --autogenerate`` from ``build_metadata(build_registry())``.
When you delete the example domain, replace this revision with one for your own entities.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "publishers",
        sa.Column("name", sa.Text(collation="C"), nullable=False),
        sa.Column("country", sa.Text(collation="C"), nullable=True),
        sa.Column("id", sa.Text(collation="C"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_publishers"),
    )
    op.create_index("uq_publishers_name", "publishers", ["name"], unique=True)
    op.create_table(
        "authors",
        sa.Column("name", sa.Text(collation="C"), nullable=False),
        sa.Column("email", sa.Text(collation="C"), nullable=False),
        sa.Column("publisher_id", sa.Text(collation="C"), nullable=True),
        sa.Column("bio", sa.Text(collation="C"), nullable=False),
        sa.Column("id", sa.Text(collation="C"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_authors"),
    )
    op.create_index("ix_authors_publisher_id", "authors", ["publisher_id"], unique=False)
    op.create_index("uq_authors_email", "authors", ["email"], unique=True)
    op.create_table(
        "books",
        sa.Column("title", sa.Text(collation="C"), nullable=False),
        sa.Column("isbn", sa.Text(collation="C"), nullable=False),
        sa.Column("author_id", sa.Text(collation="C"), nullable=False),
        sa.Column("genre", sa.Text(collation="C"), nullable=False),
        sa.Column("price", sa.Numeric(), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=True),
        sa.Column(
            "tags", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), nullable=False
        ),
        sa.Column("id", sa.Text(collation="C"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_books"),
    )
    op.create_index("ix_books_author_id", "books", ["author_id"], unique=False)
    op.create_index("ix_books_genre", "books", ["genre"], unique=False)
    op.create_index("uq_books_isbn", "books", ["isbn"], unique=True)


def downgrade() -> None:
    op.drop_table("books")
    op.drop_table("authors")
    op.drop_table("publishers")
