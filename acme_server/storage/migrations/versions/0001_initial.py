"""The initial schema: CAs, policies, profiles, the certificate inventory and its requests, revocations,
CRLs, API tokens, leases, and the ACME (RFC 8555) accounts, EAB keys, nonces, orders, authorizations and
challenges.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 22:43:51.278565
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _timestamp() -> sa.DateTime:
    """Every timestamp is timezone-aware; the code stores and reads UTC (storage.tables.UTCDateTime)."""
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "acme_accounts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("jwk_thumbprint", sa.Text(), nullable=False),
        sa.Column("jwk", sa.JSON(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("contacts", sa.JSON(), nullable=False),
        sa.Column("terms_agreed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("eab_kid", sa.Text(), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.CheckConstraint(
            "status IN ('valid', 'deactivated', 'revoked')", name=op.f("ck_acme_accounts_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acme_accounts")),
        sa.UniqueConstraint("jwk_thumbprint", name=op.f("uq_acme_accounts_jwk_thumbprint")),
    )
    op.create_table(
        "acme_nonces",
        sa.Column("nonce", sa.Text(), nullable=False),
        sa.Column("expires_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_acme_nonces")),
    )
    op.create_index(op.f("ix_acme_nonces_expires_at"), "acme_nonces", ["expires_at"])

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("expires_at", _timestamp(), nullable=True),
        sa.Column("last_used_at", _timestamp(), nullable=True),
        sa.CheckConstraint("role IN ('admin', 'operator', 'viewer')", name=op.f("ck_api_tokens_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "cas",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=True),
        sa.Column("chain_pem", sa.Text(), server_default="", nullable=False),
        sa.Column("csr_pem", sa.Text(), nullable=True),
        sa.Column("sealed_key", sa.LargeBinary(), nullable=False),
        sa.Column("key_algorithm", sa.Text(), nullable=False),
        sa.Column("crl_url", sa.Text(), nullable=True),
        sa.Column("ocsp_url", sa.Text(), nullable=True),
        sa.Column("issuer_url", sa.Text(), nullable=True),
        sa.Column("max_path_length", sa.Integer(), nullable=True),
        sa.Column("not_before", _timestamp(), nullable=True),
        sa.Column("not_after", _timestamp(), nullable=True),
        sa.Column("crl_number", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.CheckConstraint("kind IN ('root', 'intermediate', 'external')", name=op.f("ck_cas_kind")),
        sa.CheckConstraint("status IN ('active', 'disabled', 'pending')", name=op.f("ck_cas_status")),
        sa.ForeignKeyConstraint(["parent_id"], ["cas.id"], name=op.f("fk_cas_parent_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cas")),
        sa.UniqueConstraint("name", name=op.f("uq_cas_name")),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("expires_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "policies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policies")),
        sa.UniqueConstraint("name", name=op.f("uq_policies_name")),
    )
    op.create_table(
        "acme_authorizations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("identifier_type", sa.Text(), nullable=False),
        sa.Column("identifier_value", sa.Text(), nullable=False),
        sa.Column("wildcard", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("expires_at", _timestamp(), nullable=False),
        sa.Column("pre_authorized", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked')",
            name=op.f("ck_acme_authorizations_status"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["acme_accounts.id"], name=op.f("fk_acme_authorizations_account_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acme_authorizations")),
    )
    op.create_index(op.f("ix_acme_authorizations_expires_at"), "acme_authorizations", ["expires_at"])
    op.create_index(
        op.f("ix_acme_authorizations_reuse"),
        "acme_authorizations",
        ["account_id", "identifier_type", "identifier_value", "status"],
    )

    op.create_table(
        "crls",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("ca_id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("this_update", _timestamp(), nullable=False),
        sa.Column("next_update", _timestamp(), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.ForeignKeyConstraint(["ca_id"], ["cas.id"], name=op.f("fk_crls_ca_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crls")),
        sa.UniqueConstraint("ca_id", "number", name=op.f("uq_crls_ca_id_number")),
    )
    op.create_table(
        "profiles",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("ca_id", sa.String(length=36), nullable=True),
        sa.Column("policy_id", sa.String(length=36), nullable=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.ForeignKeyConstraint(["ca_id"], ["cas.id"], name=op.f("fk_profiles_ca_id")),
        sa.ForeignKeyConstraint(["policy_id"], ["policies.id"], name=op.f("fk_profiles_policy_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profiles")),
        sa.UniqueConstraint("name", name=op.f("uq_profiles_name")),
    )
    op.create_table(
        "acme_challenges",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("authorization_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("validated_at", _timestamp(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("processing_started_at", _timestamp(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'valid', 'invalid')", name=op.f("ck_acme_challenges_status")
        ),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["acme_authorizations.id"],
            name=op.f("fk_acme_challenges_authorization_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acme_challenges")),
        sa.UniqueConstraint(
            "authorization_id", "type", name=op.f("uq_acme_challenges_authorization_id_type")
        ),
    )
    op.create_index(
        op.f("ix_acme_challenges_status_processing_started_at"),
        "acme_challenges",
        ["status", "processing_started_at"],
    )

    op.create_table(
        "certificate_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("profile_id", sa.String(length=36), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("csr_pem", sa.Text(), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("certificate_id", sa.String(length=36), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.CheckConstraint("method IN ('managed', 'csr')", name=op.f("ck_certificate_requests_method")),
        sa.CheckConstraint(
            "status IN ('pending', 'issued', 'failed')", name=op.f("ck_certificate_requests_status")
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profiles.id"], name=op.f("fk_certificate_requests_profile_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_requests")),
    )
    op.create_index(op.f("ix_certificate_requests_created_at"), "certificate_requests", ["created_at"])
    op.create_index(op.f("ix_certificate_requests_profile_id"), "certificate_requests", ["profile_id"])
    op.create_index(op.f("ix_certificate_requests_status"), "certificate_requests", ["status"])

    op.create_table(
        "eab_keys",
        sa.Column("kid", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.String(length=36), nullable=True),
        sa.Column("sealed_hmac", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("bound_account_id", sa.String(length=36), nullable=True),
        sa.Column("bound_at", _timestamp(), nullable=True),
        sa.ForeignKeyConstraint(
            ["bound_account_id"],
            ["acme_accounts.id"],
            name=op.f("fk_eab_keys_bound_account_id"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profiles.id"], name=op.f("fk_eab_keys_profile_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_eab_keys")),
        sa.UniqueConstraint("bound_account_id", name=op.f("uq_eab_keys_bound_account_id")),
    )
    op.create_table(
        "certificate_request_metadata",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["certificate_requests.id"],
            name=op.f("fk_certificate_request_metadata_request_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", "key", name=op.f("pk_certificate_request_metadata")),
    )
    op.create_index(
        op.f("ix_certificate_request_metadata_key_value_request_id"),
        "certificate_request_metadata",
        ["key", "value", "request_id"],
    )

    op.create_table(
        "certificates",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("ca_id", sa.String(length=36), nullable=True),
        sa.Column("profile_id", sa.String(length=36), nullable=True),
        sa.Column("serial", sa.Text(), nullable=False),
        sa.Column("common_name", sa.Text(), nullable=False),
        sa.Column("friendly_name", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("not_before", _timestamp(), nullable=False),
        sa.Column("not_after", _timestamp(), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("chain_pem", sa.Text(), nullable=False),
        sa.Column("sealed_key", sa.LargeBinary(), nullable=True),
        sa.Column("key_algorithm", sa.Text(), nullable=False),
        sa.Column("san_text", sa.Text(), nullable=False),
        sa.Column("fingerprint_sha256", sa.Text(), nullable=False),
        sa.Column("enrollment", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=True),
        sa.Column("account_id", sa.String(length=36), nullable=True),
        sa.Column("order_id", sa.String(length=36), nullable=True),
        sa.Column("renewed_from_id", sa.String(length=36), nullable=True),
        sa.Column("renewed_by_id", sa.String(length=36), nullable=True),
        sa.Column("auto_renew", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("revoked_at", _timestamp(), nullable=True),
        sa.Column("revocation_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("enrollment IN ('api', 'acme', 'cli')", name=op.f("ck_certificates_enrollment")),
        sa.CheckConstraint(
            "status IN ('active', 'revoked', 'superseded')", name=op.f("ck_certificates_status")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["acme_accounts.id"], name=op.f("fk_certificates_account_id")
        ),
        sa.ForeignKeyConstraint(["ca_id"], ["cas.id"], name=op.f("fk_certificates_ca_id")),
        sa.ForeignKeyConstraint(["profile_id"], ["profiles.id"], name=op.f("fk_certificates_profile_id")),
        sa.ForeignKeyConstraint(
            ["renewed_by_id"],
            ["certificates.id"],
            name=op.f("fk_certificates_renewed_by_id"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["renewed_from_id"],
            ["certificates.id"],
            name=op.f("fk_certificates_renewed_from_id"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["certificate_requests.id"], name=op.f("fk_certificates_request_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
        sa.UniqueConstraint("ca_id", "serial", name=op.f("uq_certificates_ca_id_serial")),
    )
    op.create_index(op.f("ix_certificates_account_id"), "certificates", ["account_id"])
    op.create_index(op.f("ix_certificates_ca_id"), "certificates", ["ca_id"])
    op.create_index(op.f("ix_certificates_common_name"), "certificates", ["common_name"])
    op.create_index(op.f("ix_certificates_created_at"), "certificates", ["created_at"])
    op.create_index(op.f("ix_certificates_not_after"), "certificates", ["not_after"])
    op.create_index(op.f("ix_certificates_profile_id"), "certificates", ["profile_id"])
    op.create_index(op.f("ix_certificates_status"), "certificates", ["status"])

    op.create_table(
        "acme_orders",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("profile_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("identifiers", sa.JSON(), nullable=False),
        sa.Column("not_before", _timestamp(), nullable=True),
        sa.Column("not_after", _timestamp(), nullable=True),
        sa.Column("expires_at", _timestamp(), nullable=False),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("certificate_id", sa.String(length=36), nullable=True),
        sa.Column("replaces", sa.Text(), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'ready', 'processing', 'valid', 'invalid')",
            name=op.f("ck_acme_orders_status"),
        ),
        sa.ForeignKeyConstraint(["account_id"], ["acme_accounts.id"], name=op.f("fk_acme_orders_account_id")),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_acme_orders_certificate_id"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["profile_id"], ["profiles.id"], name=op.f("fk_acme_orders_profile_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acme_orders")),
    )
    op.create_index(op.f("ix_acme_orders_account_id_created_at"), "acme_orders", ["account_id", "created_at"])
    op.create_index(op.f("ix_acme_orders_replaces"), "acme_orders", ["replaces"])
    op.create_index(op.f("ix_acme_orders_status_expires_at"), "acme_orders", ["status", "expires_at"])

    op.create_table(
        "certificate_metadata",
        sa.Column("certificate_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_certificate_metadata_certificate_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("certificate_id", "key", name=op.f("pk_certificate_metadata")),
    )
    op.create_index(
        op.f("ix_certificate_metadata_key_value_certificate_id"),
        "certificate_metadata",
        ["key", "value", "certificate_id"],
    )

    op.create_table(
        "revocations",
        sa.Column("certificate_id", sa.String(length=36), nullable=False),
        sa.Column("ca_id", sa.String(length=36), nullable=True),
        sa.Column("serial", sa.Text(), nullable=False),
        sa.Column("revoked_at", _timestamp(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.CheckConstraint("source IN ('api', 'acme', 'cli')", name=op.f("ck_revocations_source")),
        sa.ForeignKeyConstraint(["ca_id"], ["cas.id"], name=op.f("fk_revocations_ca_id")),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_revocations_certificate_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("certificate_id", name=op.f("pk_revocations")),
    )
    op.create_index(op.f("ix_revocations_ca_id"), "revocations", ["ca_id"])

    op.create_table(
        "acme_order_authorizations",
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("authorization_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["acme_authorizations.id"],
            name=op.f("fk_acme_order_authorizations_authorization_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["acme_orders.id"],
            name=op.f("fk_acme_order_authorizations_order_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", "authorization_id", name=op.f("pk_acme_order_authorizations")),
    )
    op.create_index(
        op.f("ix_acme_order_authorizations_authorization_id"),
        "acme_order_authorizations",
        ["authorization_id"],
    )


def downgrade() -> None:
    # Dropping a table drops its indexes; children before parents.
    op.drop_table("acme_order_authorizations")
    op.drop_table("revocations")
    op.drop_table("certificate_metadata")
    op.drop_table("acme_orders")
    op.drop_table("certificates")
    op.drop_table("certificate_request_metadata")
    op.drop_table("eab_keys")
    op.drop_table("certificate_requests")
    op.drop_table("acme_challenges")
    op.drop_table("profiles")
    op.drop_table("crls")
    op.drop_table("acme_authorizations")
    op.drop_table("policies")
    op.drop_table("leases")
    op.drop_table("cas")
    op.drop_table("api_tokens")
    op.drop_table("acme_nonces")
    op.drop_table("acme_accounts")
