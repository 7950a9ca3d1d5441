"""Rate-limit counters (storage/rate_counters.py): acme_rate_counters, UNLOGGED on PostgreSQL so a
counted event costs no WAL flush. SQLite counts in the `<db>-nonces` file; the table exists there only
so that both engines share one schema.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 11:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acme_rate_counters",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_acme_rate_counters")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE acme_rate_counters SET UNLOGGED")


def downgrade() -> None:
    op.drop_table("acme_rate_counters")
