"""Sync pushes leave the request path: syncs.push_due_at queues a push (set in the transaction that
stored the certificate), worked by every server process under the sync's lease.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 07:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("syncs", sa.Column("push_due_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_syncs_push_due_at"), "syncs", ["push_due_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_syncs_push_due_at"), table_name="syncs")
    with op.batch_alter_table("syncs") as batch:
        batch.drop_column("push_due_at")
