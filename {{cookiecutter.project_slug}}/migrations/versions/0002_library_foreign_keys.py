"""Foreign keys of the example domain: an author's publisher and a book's author must exist,
and neither can be deleted while something points at it (``on_delete="restrict"`` in
``registrations.py``).

Rows that already point at nothing would make ``ADD CONSTRAINT`` fail half-way; the upgrade
counts them first and stops with a message saying where they are, so they can be repaired
(re-pointed, or the reference set to null where it is optional) before running it again.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (constraint, child table, column, target table): the target's key is always ``id``.
FOREIGN_KEYS = (
    ("fk_authors_publisher_id", "authors", "publisher_id", "publishers"),
    ("fk_books_author_id", "books", "author_id", "authors"),
)


def _check_no_orphans() -> None:
    if context.is_offline_mode():  # ``--sql``: nothing to count, the script is only printed
        return
    connection = op.get_bind()
    problems = []
    for _, child, column, target in FOREIGN_KEYS:
        orphans = connection.execute(
            sa.text(
                f'SELECT count(*) FROM "{child}" c WHERE c."{column}" IS NOT NULL'
                f' AND NOT EXISTS (SELECT 1 FROM "{target}" t WHERE t.id = c."{column}")'
            )
        ).scalar_one()
        if orphans:
            problems.append(f"{orphans} row(s) of {child}.{column} point at no {target} row")
    if problems:
        raise RuntimeError(
            "cannot add the foreign keys: " + "; ".join(problems) + ". Repair them and retry."
        )


def upgrade() -> None:
    _check_no_orphans()
    for name, child, column, target in FOREIGN_KEYS:
        op.create_foreign_key(name, child, target, [column], ["id"], ondelete="RESTRICT")


def downgrade() -> None:
    for name, child, _, _ in reversed(FOREIGN_KEYS):
        op.drop_constraint(name, child, type_="foreignkey")
