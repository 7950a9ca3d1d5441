"""The inventory's page order (created_at DESC, id) as one index, so listing, offsets and filtered pages
are read from the index instead of sorting whole certificate rows (bench/inventory.py: an offset of
99,900 at 100,000 certificates went from seconds to milliseconds).

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-05 00:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_certificates_created_at_id"), "certificates", ["created_at", "id"])
    op.drop_index(op.f("ix_certificates_created_at"), table_name="certificates")


def downgrade() -> None:
    op.create_index(op.f("ix_certificates_created_at"), "certificates", ["created_at"])
    op.drop_index(op.f("ix_certificates_created_at_id"), table_name="certificates")
