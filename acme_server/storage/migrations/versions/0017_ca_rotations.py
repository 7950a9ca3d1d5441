"""CA rotations (services/renewal/rotation.py): one row per rotation of an old CA onto a new one, with its
state, spread and grace; a unique key on the old CA while it is under way.

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-07 15:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ca_rotations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("old_ca_id", sa.String(length=36), nullable=False),
        sa.Column("new_ca_id", sa.String(length=36), nullable=False),
        sa.Column("active_old_ca_id", sa.String(length=36), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("spread_seconds", sa.BigInteger(), nullable=False),
        sa.Column("grace_seconds", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('started', 'profiles_moved', 'renewing', 'completed', 'cancelled')",
            name=op.f("ck_ca_rotations_state"),
        ),
        sa.ForeignKeyConstraint(["old_ca_id"], ["cas.id"], name=op.f("fk_ca_rotations_old_ca_id")),
        sa.ForeignKeyConstraint(["new_ca_id"], ["cas.id"], name=op.f("fk_ca_rotations_new_ca_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ca_rotations")),
        sa.UniqueConstraint("active_old_ca_id", name=op.f("uq_ca_rotations_active_old_ca_id")),
    )
    op.create_index(op.f("ix_ca_rotations_old_ca_id"), "ca_rotations", ["old_ca_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ca_rotations_old_ca_id"), table_name="ca_rotations")
    op.drop_table("ca_rotations")
