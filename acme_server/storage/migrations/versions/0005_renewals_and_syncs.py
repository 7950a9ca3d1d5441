"""Server-driven renewal (a claim and back-off row per certificate, every attempt recorded) and syncs
(certificates pushed to destinations, their secrets sealed).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "renewal_states",
        sa.Column("certificate_id", sa.String(length=36), nullable=False),
        sa.Column("holder", sa.Text(), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_renewal_states_certificate_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("certificate_id", name=op.f("pk_renewal_states")),
    )
    op.create_table(
        "renewal_attempts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("certificate_id", sa.String(length=36), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("successor_id", sa.String(length=36), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.CheckConstraint("outcome IN ('renewed', 'failed')", name=op.f("ck_renewal_attempts_outcome")),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_renewal_attempts_certificate_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["successor_id"],
            ["certificates.id"],
            name=op.f("fk_renewal_attempts_successor_id"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_renewal_attempts")),
    )
    op.create_index(
        op.f("ix_renewal_attempts_certificate_id_attempted_at"),
        "renewal_attempts",
        ["certificate_id", "attempted_at"],
    )
    op.create_table(
        "syncs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("certificate_id", sa.String(length=36), nullable=True),
        sa.Column("profile_id", sa.String(length=36), nullable=True),
        sa.Column("destination_type", sa.Text(), nullable=False),
        sa.Column("destination_config", sa.JSON(), nullable=False),
        sa.Column("sealed_secrets", sa.LargeBinary(), nullable=True),
        sa.Column("destination_state", sa.JSON(), nullable=False),
        sa.Column("last_status", sa.Text(), server_default="never", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_certificate_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("(certificate_id IS NULL) <> (profile_id IS NULL)", name=op.f("ck_syncs_target")),
        sa.CheckConstraint("last_status IN ('never', 'ok', 'failed')", name=op.f("ck_syncs_last_status")),
        sa.ForeignKeyConstraint(
            ["certificate_id"], ["certificates.id"], name=op.f("fk_syncs_certificate_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profiles.id"], name=op.f("fk_syncs_profile_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_syncs")),
        sa.UniqueConstraint("name", name=op.f("uq_syncs_name")),
    )
    op.create_index(op.f("ix_syncs_certificate_id"), "syncs", ["certificate_id"])
    op.create_index(op.f("ix_syncs_profile_id"), "syncs", ["profile_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_syncs_profile_id"), table_name="syncs")
    op.drop_index(op.f("ix_syncs_certificate_id"), table_name="syncs")
    op.drop_table("syncs")
    op.drop_index(op.f("ix_renewal_attempts_certificate_id_attempted_at"), table_name="renewal_attempts")
    op.drop_table("renewal_attempts")
    op.drop_table("renewal_states")
