"""EAB keys for fleets: a key binds up to max_accounts accounts (NULL: any number), counted in
account_count, and can be disabled. The bindings are the accounts whose eab_kid names the key, so the
single-account columns bound_account_id and bound_at go; every existing key keeps binding one account.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 23:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("eab_keys") as batch:
        batch.add_column(sa.Column("max_accounts", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("account_count", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
    # Keys made before this revision were single-use: one binding each, once.
    op.execute(
        "UPDATE eab_keys SET max_accounts = 1, account_count = CASE"
        " WHEN bound_account_id IS NOT NULL OR bound_at IS NOT NULL THEN 1 ELSE 0 END"
    )
    with op.batch_alter_table("eab_keys") as batch:
        batch.drop_constraint(op.f("uq_eab_keys_bound_account_id"), type_="unique")
        batch.drop_constraint(op.f("fk_eab_keys_bound_account_id"), type_="foreignkey")
        batch.drop_column("bound_account_id")
        batch.drop_column("bound_at")
        batch.create_check_constraint(
            op.f("ck_eab_keys_max_accounts"), "max_accounts IS NULL OR max_accounts >= 1"
        )
        batch.create_check_constraint(
            op.f("ck_eab_keys_account_count"), "max_accounts IS NULL OR account_count <= max_accounts"
        )
    op.create_index(op.f("ix_acme_accounts_eab_kid"), "acme_accounts", ["eab_kid"])


def downgrade() -> None:
    op.drop_index(op.f("ix_acme_accounts_eab_kid"), table_name="acme_accounts")
    with op.batch_alter_table("eab_keys") as batch:
        batch.add_column(sa.Column("bound_account_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("bound_at", sa.DateTime(timezone=True), nullable=True))
    # One account per key again: the earliest it bound; the others lose their key's record.
    op.execute(
        "UPDATE eab_keys SET"
        " bound_account_id = (SELECT a.id FROM acme_accounts a WHERE a.eab_kid = eab_keys.kid"
        " ORDER BY a.created_at, a.id LIMIT 1),"
        " bound_at = (SELECT MIN(a.created_at) FROM acme_accounts a WHERE a.eab_kid = eab_keys.kid)"
    )
    with op.batch_alter_table("eab_keys") as batch:
        batch.drop_constraint(op.f("ck_eab_keys_account_count"), type_="check")
        batch.drop_constraint(op.f("ck_eab_keys_max_accounts"), type_="check")
        batch.drop_column("disabled_at")
        batch.drop_column("account_count")
        batch.drop_column("max_accounts")
        batch.create_unique_constraint(op.f("uq_eab_keys_bound_account_id"), ["bound_account_id"])
        batch.create_foreign_key(
            op.f("fk_eab_keys_bound_account_id"),
            "acme_accounts",
            ["bound_account_id"],
            ["id"],
            ondelete="SET NULL",
        )
