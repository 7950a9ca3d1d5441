"""CA status URLs stored on the CA, and partitioned CRLs (RFC 5280 §5.2.5). cas.status_url: the base URL
of the CA's CRLs and OCSP that its certificates name, filled here with what the process that migrates
would have written (its --status-url, given through the Alembic attributes), else the default of the
time (the default listen address, port + 80). cas.crl_partitions / crl_partitions_published, and the
partition of each certificate, revocation and CRL: 0, the one CRL every CA had so far.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-07 14:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# What a server started with no flags wrote into certificates before this revision.
DEFAULT_STATUS_URL = "http://127.0.0.1:14080"


def _partition(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), server_default=sa.text("0"), nullable=False)


def upgrade() -> None:
    # Plain ADD COLUMNs (a constant default): a batch would rebuild `cas` on SQLite, which the
    # foreign keys pointing at it forbid once it has rows.
    op.add_column("cas", sa.Column("status_url", sa.Text(), nullable=True))
    op.add_column(
        "cas", sa.Column("crl_partitions", sa.Integer(), server_default=sa.text("1"), nullable=False)
    )
    op.add_column(
        "cas",
        sa.Column("crl_partitions_published", sa.Integer(), server_default=sa.text("1"), nullable=False),
    )
    status_url = context.config.attributes.get("status_url") or DEFAULT_STATUS_URL
    op.get_bind().execute(sa.text("UPDATE cas SET status_url = :url"), {"url": status_url})
    op.add_column("certificates", _partition("crl_partition"))
    op.add_column("revocations", _partition("crl_partition"))
    op.create_index(op.f("ix_revocations_ca_id_crl_partition"), "revocations", ["ca_id", "crl_partition"])
    op.drop_index(op.f("ix_revocations_ca_id"), table_name="revocations")
    op.add_column("crls", _partition("partition"))


def downgrade() -> None:
    # Plain DROP COLUMNs (SQLite 3.35+), for the same reason as above.
    op.drop_column("crls", "partition")
    op.create_index(op.f("ix_revocations_ca_id"), "revocations", ["ca_id"])
    op.drop_index(op.f("ix_revocations_ca_id_crl_partition"), table_name="revocations")
    op.drop_column("revocations", "crl_partition")
    op.drop_column("certificates", "crl_partition")
    for name in ("crl_partitions_published", "crl_partitions", "status_url"):
        op.drop_column("cas", name)
