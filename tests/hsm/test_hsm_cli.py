"""`acme-server ca create-root|create-intermediate --pkcs11-uri` against a real SoftHSM2 token, through
the CLI in child processes: keys generated in (or found again in) the token, what they sign checked
by openssl, and one `error:` line with exit 1 for a wrong token, PIN, URI or module."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command

from acme_server.storage import migrate
from acme_server.storage.engine import create_engine
from tests.hsm.softhsm import (
    PIN,
    TOKEN,
    SoftToken,
    acme_json,
    acme_server,
    chain_verifies,
    create_ca,
    refused,
    revoked_by_crl,
)
from tests.tools import openssl, write

ROOT_URI = f"pkcs11:token={TOKEN};object=root-key"
INTER_URI = f"pkcs11:token={TOKEN};object=issuing-key"
WRONG_PIN = f"error: token '{TOKEN}': the PIN is wrong (from --pkcs11-pin-file or ACME_PKCS11_PIN)"


@pytest.fixture
def token(tmp_path: Path) -> SoftToken:
    return SoftToken(tmp_path / "softhsm")


def test_token_keys_sign_the_chain_a_leaf_and_the_crl(
    token: SoftToken, tmp_path: Path, database_url: str
) -> None:
    env, data, db = token.with_pin(), tmp_path / "data", database_url
    root = create_ca(env, data, "hsm-root", ROOT_URI, "--key-algorithm", "EC_secp384r1", database=db)
    assert root["keyAlgorithm"] == "EC_secp384r1"
    # The stored URI names the key exactly (the id the token gave it) and carries no secret.
    assert root["keyUri"].startswith(f"pkcs11:token={TOKEN};object=root-key;id=%")
    assert root["keyUri"].endswith(";type=private") and PIN not in root["keyUri"]
    inter = create_ca(
        env,
        data,
        "hsm-issuing",
        INTER_URI,
        "--parent",
        "hsm-root",
        "--key-algorithm",
        "RSA_2048",
        database=db,
    )
    assert inter["keyAlgorithm"] == "RSA_2048"
    assert inter["keyUri"].startswith(f"pkcs11:token={TOKEN};object=issuing-key;id=%")
    acme_server(
        env, data, "policy", "create", "internal", "--allow-dns", "*.svc.example.internal", database=db
    )
    acme_server(
        env, data, "profile", "create", "web", "--ca", "hsm-issuing", "--policy", "internal", database=db
    )
    name = "api.svc.example.internal"
    out = tmp_path / "api"
    issue = ("cert", "issue", "--profile", "web", "--cn", name, "--dns", name, "--out-dir", str(out))
    issued = acme_json(env, data, *issue, database=db)
    pems = [
        acme_server(env, data, "ca", "show", ca, "--pem", database=db).stdout
        for ca in ("hsm-root", "hsm-issuing")
    ]
    root_pem, chain = write(tmp_path / "root.pem", pems[0]), write(tmp_path / "chain.pem", pems[1])
    assert chain_verifies(root_pem, chain, out / "cert.pem")

    acme_server(env, data, "cert", "revoke", issued["id"], "--reason", "keyCompromise", database=db)
    acme_server(env, data, "ca", "crl", "hsm-issuing", "--out", str(tmp_path / "crl.pem"), database=db)
    assert revoked_by_crl(chain, tmp_path / "crl.pem", out / "cert.pem")
    crl_text = openssl("crl", "-in", tmp_path / "crl.pem", "-noout", "-text").stdout
    assert "Signature Algorithm: sha256WithRSAEncryption" in crl_text


def test_an_existing_token_key_is_used_as_it_is(token: SoftToken, tmp_path: Path) -> None:
    """A second installation (its own database) pointed at the same token key certifies the same
    public key: the key was found in the token, not made again."""
    env = token.with_pin()
    first = create_ca(env, tmp_path / "a", "root-a", ROOT_URI)
    again = create_ca(env, tmp_path / "b", "root-b", ROOT_URI)
    assert again["keyAlgorithm"] == first["keyAlgorithm"] == "EC_prime256v1"
    assert again["keyUri"] == first["keyUri"]
    keys = []
    for n in ("a", "b"):
        pem = write(
            tmp_path / f"{n}.pem", acme_server(env, tmp_path / n, "ca", "show", f"root-{n}", "--pem").stdout
        )
        keys.append(openssl("x509", "-noout", "-pubkey", "-in", pem).stdout)
    assert keys[0] == keys[1] and keys[0].startswith("-----BEGIN PUBLIC KEY-----")
    other = ("ca", "create-root", "root-c", "--pkcs11-uri", ROOT_URI, "--key-algorithm", "RSA_2048")
    assert refused(env, tmp_path / "c", *other) == (
        f"error: {first['keyUri']}: the key in the token is EC_prime256v1, not RSA_2048"
    )


def test_an_external_ca_key_in_the_token_signs_its_csr(token: SoftToken, tmp_path: Path) -> None:
    out = tmp_path / "offline.csr"
    args = ("ca", "create-csr", "offline", "--pkcs11-uri", INTER_URI, "--key-algorithm", "EC_secp384r1")
    acme_server(token.with_pin(), tmp_path / "data", *args, "--out", str(out))
    checked = openssl("req", "-in", out, "-verify", "-noout")
    assert "verify OK" in checked.stdout + checked.stderr


def test_a_wrong_pin_is_one_error_line(token: SoftToken, tmp_path: Path) -> None:
    args = ("ca", "create-root", "r", "--pkcs11-uri", ROOT_URI)
    assert refused(token.with_pin("0000-wrong"), tmp_path / "data", *args) == WRONG_PIN


def test_a_wrong_token_is_one_error_line(token: SoftToken, tmp_path: Path) -> None:
    args = ("ca", "create-root", "r", "--pkcs11-uri", "pkcs11:token=nope;object=k")
    assert refused(token.with_pin(), tmp_path / "data", *args) == (
        "error: no PKCS#11 token labelled 'nope' in /usr/lib/softhsm/libsofthsm2.so"
    )


def test_a_missing_pin_says_where_to_put_it(token: SoftToken, tmp_path: Path) -> None:
    assert refused(token.env, tmp_path / "data", "ca", "create-root", "r", "--pkcs11-uri", ROOT_URI) == (
        "error: a CA key is in a PKCS#11 token: give --pkcs11-pin-file FILE or set ACME_PKCS11_PIN"
    )


def test_the_pin_comes_from_a_private_file(token: SoftToken, tmp_path: Path) -> None:
    pin_file = write(tmp_path / "pin", PIN + "\n")
    pin_file.chmod(0o644)
    args = ("ca", "create-root", "r", "--pkcs11-pin-file", str(pin_file), "--pkcs11-uri", ROOT_URI)
    assert refused(token.env, tmp_path / "data", *args) == (
        f"error: {pin_file} is readable by group or others; run: chmod 600 {pin_file}"
    )
    pin_file.chmod(0o600)
    assert acme_json(token.env, tmp_path / "data", *args)["keyUri"].startswith(f"pkcs11:token={TOKEN};")


def test_the_pin_is_never_a_flag_value(token: SoftToken, tmp_path: Path) -> None:
    """Not even as an abbreviation of --pkcs11-pin-file; and the value is not echoed."""
    args = ("ca", "create-root", "r", "--pkcs11-pin", PIN, "--pkcs11-uri", ROOT_URI)
    line = refused(token.env, tmp_path / "data", *args, expect=2)
    assert (
        line == "error: the PKCS#11 PIN is never a flag value: use --pkcs11-pin-file FILE or ACME_PKCS11_PIN"
    )


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (
            f"pkcs11:token={TOKEN};object=k?pin-value={PIN}",
            "a PIN never goes into the URI (it is stored with the CA); "
            "use --pkcs11-pin-file or ACME_PKCS11_PIN",
        ),
        (
            f"pkcs11:token={TOKEN};object=k?module-path=/tmp/evil.so",
            "the PKCS#11 module comes from --pkcs11-module, not from the URI",
        ),
        ("pkcs11:object=k", "name the token, e.g. pkcs11:token=ca;object=root"),
        (f"pkcs11:token={TOKEN}", "name the key with object=LABEL (and/or id=%01%02...)"),
        (f"pkcs11:token={TOKEN};object=k;type=cert", "a CA key is type=private"),
        (f"pkcs11:token={TOKEN};object=k;slot-id=0", "unknown attribute 'slot-id' (use token, object, id, "
         "serial, manufacturer, model)"),
        ("file:///etc/key.pem", "must start with 'pkcs11:' (RFC 7512), e.g. pkcs11:token=ca;object=root"),
    ],
)  # fmt: skip
def test_bad_uris_are_refused_before_the_token_is_touched(
    token: SoftToken, tmp_path: Path, uri: str, message: str
) -> None:
    args = ("ca", "create-root", "r", "--pkcs11-uri", uri)
    assert refused(token.with_pin(), tmp_path / "data", *args) == f"error: pkcs11 URI: {message}"


def test_a_module_that_is_not_there_is_one_error_line(token: SoftToken, tmp_path: Path) -> None:
    module = tmp_path / "none.so"
    args = ("ca", "create-root", "r", "--pkcs11-module", str(module), "--pkcs11-uri", ROOT_URI)
    assert refused(token.with_pin(), tmp_path / "data", *args).startswith(
        f"error: cannot load the PKCS#11 module {module}"
    )


def test_a_uri_naming_another_key_is_refused(token: SoftToken, tmp_path: Path) -> None:
    """A CA row whose URI was pointed at another key of the token (a tampered or mistaken database)
    signs nothing: the token's key must be the one in the CA certificate."""
    env, data = token.with_pin(), tmp_path / "data"
    create_ca(env, data, "a", f"pkcs11:token={TOKEN};object=key-a")
    other = create_ca(env, data, "b", f"pkcs11:token={TOKEN};object=key-b")
    with sqlite3.connect(data / "acme-server.db") as database:
        database.execute("UPDATE cas SET key_uri = ? WHERE name = 'a'", (other["keyUri"],))
    assert refused(env, data, "ca", "crl", "a") == (
        f"error: {other['keyUri']}: the token's key is not the key of this CA's certificate"
    )


def test_ed25519_is_not_generated_in_a_token(token: SoftToken, tmp_path: Path) -> None:
    args = ("ca", "create-root", "r", "--pkcs11-uri", ROOT_URI, "--key-algorithm", "ED25519")
    assert refused(token.with_pin(), tmp_path / "data", *args) == (
        "error: ED25519 keys cannot be generated in a token here; use EC_prime256v1, EC_secp384r1 or "
        "RSA_2048/3072/4096"
    )


async def test_no_downgrade_below_0013_while_a_token_holds_a_ca_key(token: SoftToken, tmp_path: Path) -> None:
    data = tmp_path / "data"
    create_ca(token.with_pin(), data, "r", ROOT_URI)
    engine = create_engine(f"sqlite:///{data / 'acme-server.db'}")
    try:
        with pytest.raises(RuntimeError, match=r"1 CA\(s\) keep their key in a PKCS#11 token"):
            async with engine.connect() as connection, connection.begin():
                await connection.run_sync(lambda c: command.downgrade(migrate.alembic_config(c), "0012"))
    finally:
        await engine.dispose()
    assert create_ca(token.with_pin(), data, "r2", f"pkcs11:token={TOKEN};object=second")["kind"] == "root"
