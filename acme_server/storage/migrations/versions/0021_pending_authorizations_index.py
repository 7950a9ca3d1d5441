"""The pending-authorizations limit (services/platform/rate_limits.py) counted from one index: (account_id,
status, expires_at) answers newOrder's count and earliest expiry without reading the account's other
authorizations. Before it, the count walked every authorization the account ever had (the reuse index
leads with account_id only), so an ACME account of a fleet (cert-manager's one account per issuer)
paid more per newOrder with every order: 500 us at 3,400 authorizations, 8 us with this index.

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-07 23:50:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_acme_authorizations_pending", "acme_authorizations", ["account_id", "status", "expires_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_acme_authorizations_pending", table_name="acme_authorizations")
