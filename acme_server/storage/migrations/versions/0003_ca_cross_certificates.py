"""Cross-signed CA certificates (alternate chains): one row per CA and foreign issuer.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 23:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ca_cross_certificates",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("ca_id", sa.String(length=36), nullable=False),
        sa.Column("issuer_id", sa.String(length=36), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ca_id"], ["cas.id"], name=op.f("fk_ca_cross_certificates_ca_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["issuer_id"], ["cas.id"], name=op.f("fk_ca_cross_certificates_issuer_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ca_cross_certificates")),
        sa.UniqueConstraint("ca_id", "issuer_id", name=op.f("uq_ca_cross_certificates_ca_id_issuer_id")),
    )
    op.create_index(op.f("ix_ca_cross_certificates_ca_id"), "ca_cross_certificates", ["ca_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ca_cross_certificates_ca_id"), table_name="ca_cross_certificates")
    op.drop_table("ca_cross_certificates")
