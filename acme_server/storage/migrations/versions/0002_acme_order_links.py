"""ACME orders: an order may have no profile (profile_id NULL), and each link to an authorization keeps
its place in the order's list (acme_order_authorizations.position), so the order reads back as created.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_LINKS = "acme_order_authorizations"


def upgrade() -> None:
    op.add_column(_LINKS, sa.Column("position", sa.Integer(), server_default=sa.text("0"), nullable=False))
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # Batch mode recreates acme_orders on SQLite; dropping the old table runs an implicit DELETE whose
        # ON DELETE CASCADE would empty the links, and foreign_keys cannot be switched off mid-transaction.
        op.execute(f"CREATE TEMP TABLE _saved_links AS SELECT * FROM {_LINKS}")
    with op.batch_alter_table("acme_orders") as batch:
        batch.alter_column("profile_id", existing_type=sa.String(length=36), nullable=True)
    if sqlite:
        op.execute(f"INSERT INTO {_LINKS} SELECT * FROM _saved_links")
        op.execute("DROP TABLE _saved_links")


def downgrade() -> None:
    with op.batch_alter_table("acme_orders") as batch:
        batch.alter_column("profile_id", existing_type=sa.String(length=36), nullable=False)
    with op.batch_alter_table(_LINKS) as batch:
        batch.drop_column("position")
