"""When an order began processing: a finalize cut short (a crash, a kill) leaves the order
`processing`; recovery fails it once this is older than the processing lease.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 20:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "acme_orders", sa.Column("processing_started_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("acme_orders") as batch:
        batch.drop_column("processing_started_at")
