"""CA keys in a PKCS#11 token: cas.key_uri holds the key's RFC 7512 URI (no key material, no PIN); such
a CA's sealed_key is empty. A plain added column, so SQLite needs no table rebuild.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 14:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cas", sa.Column("key_uri", sa.Text(), nullable=True))


def downgrade() -> None:
    # Without the column a token-backed CA would have no key at all: refuse rather than lose it.
    held = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM cas WHERE key_uri IS NOT NULL")).scalar()
    if held:
        raise RuntimeError(f"{held} CA(s) keep their key in a PKCS#11 token; cannot go below revision 0013")
    # Not batch mode: rebuilding `cas` on SQLite would drop the table that certificates and (ON DELETE
    # CASCADE) cross_certificates reference. SQLite >= 3.35 drops a plain column in place.
    op.drop_column("cas", "key_uri")
