"""Used nonces cost no fsync (storage/nonce_store.py): on PostgreSQL acme_nonces becomes UNLOGGED and
gets its guard row (nonce '', "complete since" the epoch); SQLite keeps its used nonces in a file of
their own, so the table stays as it is there.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 07:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE acme_nonces SET UNLOGGED")
    op.execute(
        "INSERT INTO acme_nonces (nonce, expires_at) VALUES ('', TIMESTAMPTZ '1970-01-01 00:00:00+00')"
        " ON CONFLICT (nonce) DO NOTHING"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DELETE FROM acme_nonces WHERE nonce = ''")
    op.execute("ALTER TABLE acme_nonces SET LOGGED")
