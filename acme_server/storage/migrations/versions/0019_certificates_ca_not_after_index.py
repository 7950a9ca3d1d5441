"""A CA's certificates by notAfter as one index: the CRL updater asks, once a pass, when the last
certificate of each disabled CA expires (services/status/crls.py: publishing stops after it), one MAX read
from the index end instead of a scan of the CA's certificates. It covers the ca_id index it replaces.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 23:20:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_certificates_ca_id_not_after"), "certificates", ["ca_id", "not_after"])
    op.drop_index(op.f("ix_certificates_ca_id"), table_name="certificates")


def downgrade() -> None:
    op.create_index(op.f("ix_certificates_ca_id"), "certificates", ["ca_id"])
    op.drop_index(op.f("ix_certificates_ca_id_not_after"), table_name="certificates")
