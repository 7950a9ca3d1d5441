"""certbot, the EFF client, in its standard flows: register, standalone http-01, manual dns-01 with hooks,
a wildcard, forced renewal, revocation, EAB, profiles, ARI renewal and a CA rotation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from conformance.checks import check_pem_chain
from conformance.clients.acmelib import Wire
from conformance.clients.certbot import Certbot
from conformance.names import Names
from conformance.report import UNSUPPORTED_BY_CLIENT
from conformance.servers import ChallTestSrv, OurTarget, Target

pytestmark = pytest.mark.client("certbot")


@pytest.fixture
def certbot(target: Target, challtestsrv: ChallTestSrv, tmp_path: Path) -> Iterator[Certbot]:
    yield Certbot(target, tmp_path / "certbot", challtestsrv)


def account_url(certbot: Certbot) -> str:
    """The account URL certbot stored (regr.json) after registering."""
    (regr,) = (certbot.config_dir / "accounts").rglob("regr.json")
    url: str = json.loads(regr.read_text())["uri"]
    return url


def test_certbot_register_creates_an_account(certbot: Certbot, target: Target, wire: Wire) -> None:
    certbot.register()
    url = account_url(certbot)
    assert url.startswith(target.base_url + "/")
    shown = certbot.run("show_account").stdout  # a POST-as-GET of the account (RFC 8555 §7.3)
    assert f"Account URL: {url}" in shown
    assert "Email contact: conformance@example.com" in shown


def test_certbot_register_without_email(certbot: Certbot, target: Target) -> None:
    certbot.run("register", "--agree-tos", "--register-unsafely-without-email")
    assert account_url(certbot).startswith(target.base_url + "/")


def test_certbot_certonly_standalone_http01(certbot: Certbot, target: Target, names: Names) -> None:
    name = names.new("certbot-http")
    certbot.certonly_standalone(name, name)
    check_pem_chain(target, certbot.live(name), [name])


def test_certbot_certonly_manual_dns01_with_hooks(certbot: Certbot, target: Target, names: Names) -> None:
    first, second = names.new("certbot-dns"), names.new("certbot-dns")
    certbot.certonly_dns(first, first, second)
    check_pem_chain(target, certbot.live(first), [first, second])


def test_certbot_wildcard_via_dns01(certbot: Certbot, target: Target, names: Names) -> None:
    # RFC 8555 §7.1.3: the wildcard's authorization is for the base name, solved by dns-01 only.
    base = names.new("certbot-wild")
    certbot.certonly_dns(base, f"*.{base}", base)
    check_pem_chain(target, certbot.live(base), [f"*.{base}", base])


def test_certbot_renew_force_renewal(certbot: Certbot, target: Target, names: Names) -> None:
    name = names.new("certbot-renew")
    certbot.certonly_standalone(name, name)
    first = check_pem_chain(target, certbot.live(name), [name])
    # Without a TTY certbot sleeps up to 8 minutes before renewing, to spread load on public CAs.
    certbot.run("renew", "--force-renewal", "--no-random-sleep-on-renew", "--cert-name", name)
    renewed = check_pem_chain(target, certbot.live(name), [name])
    assert renewed.serial_number != first.serial_number
    assert (certbot.config_dir / "archive" / name / "cert2.pem").exists()


def test_certbot_revoke_reason_keycompromise(certbot: Certbot, target: Target, names: Names) -> None:
    name = names.new("certbot-revoke")
    certbot.certonly_standalone(name, name)
    certificate = x509.load_pem_x509_certificate(certbot.live(name, "cert.pem").read_bytes())
    assert target.revocation_reason(certificate) is None
    certbot.run(
        "revoke", "--cert-name", name, "--reason", "keycompromise", "--no-delete-after-revoke"
    )  # RFC 8555 §7.6, signed with the account key; reason 1 (RFC 5280 §5.3.1)
    assert target.revocation_reason(certificate) == x509.ReasonFlags.key_compromise


def test_certbot_register_with_eab_then_issue(certbot: Certbot, target: Target, names: Names) -> None:
    eab = target.eab()  # RFC 8555 §7.3.4
    # One argument each: a base64url key may start with "-".
    certbot.register(f"--eab-kid={eab.kid}", f"--eab-hmac-key={eab.hmac_key}")
    assert account_url(certbot).startswith(target.base_url + "/")
    name = names.new("certbot-eab")
    certbot.certonly_standalone(name, name)
    check_pem_chain(target, certbot.live(name), [name])


def test_certbot_fleet_registers_several_accounts_with_one_eab_key(
    target: Target, challtestsrv: ChallTestSrv, tmp_path: Path
) -> None:
    """docs/eab.md "One key for a fleet": three certbot nodes register with one key made for three
    accounts, each its own account; a fourth is refused. Binding limits are ours (Pebble has none)."""
    if not isinstance(target, OurTarget):
        pytest.skip("EAB binding limits are an acme-server feature")
    eab = target.eab(max_accounts=3)
    flags = (f"--eab-kid={eab.kid}", f"--eab-hmac-key={eab.hmac_key}")
    nodes = [Certbot(target, tmp_path / f"node-{i}", challtestsrv) for i in range(4)]
    for node in nodes[:3]:
        node.register(*flags)
    assert len({account_url(node) for node in nodes[:3]}) == 3
    refused = nodes[3].run("register", "--agree-tos", "-m", "conformance@example.com", *flags, check=False)
    assert refused.returncode != 0
    assert "has bound all the 3 accounts it may" in nodes[3].log_tail(400)


def test_certbot_register_with_a_wrong_eab_key_is_refused(certbot: Certbot, target: Target) -> None:
    eab = target.eab()
    wrong = "A" * len(eab.hmac_key)
    done = certbot.run(
        "register",
        "--agree-tos",
        "--register-unsafely-without-email",
        f"--eab-kid={eab.kid}",
        f"--eab-hmac-key={wrong}",
        check=False,
    )
    assert done.returncode != 0
    assert "urn:ietf:params:acme:error:unauthorized" in certbot.log_tail(400)
    assert not (certbot.config_dir / "accounts").exists() or not list(
        (certbot.config_dir / "accounts").rglob("regr.json")
    )


def _require_flag(certbot: Certbot, flag: str) -> None:
    if not certbot.has_flag(flag):
        pytest.skip(f"{UNSUPPORTED_BY_CLIENT}: this certbot has no {flag}")


@pytest.mark.unsupported_by_reference("Pebble 2.4.0 advertises no profiles (draft-ietf-acme-profiles)")
def test_certbot_required_profile(certbot: Certbot, target: Target, names: Names) -> None:
    _require_flag(certbot, "--required-profile")
    profile = target.profile or "default"
    # draft-ietf-acme-profiles §3: the directory's meta.profiles names each profile a client may ask for.
    meta = target.directory().get("meta")
    assert isinstance(meta, dict) and profile in meta.get("profiles", {})
    name = names.new("certbot-profile")
    certbot.certonly_standalone(name, name, extra=("--required-profile", profile))
    check_pem_chain(target, certbot.live(name), [name])
    renewal = (certbot.config_dir / "renewal" / f"{name}.conf").read_text()
    assert f"required_profile = {profile}" in renewal


def test_certbot_preferred_profile_falls_back_or_applies(
    certbot: Certbot, target: Target, names: Names
) -> None:
    # --preferred-profile asks for the profile when the directory lists it, and orders without one
    # otherwise, so it must issue on every server.
    _require_flag(certbot, "--preferred-profile")
    name = names.new("certbot-preferred")
    certbot.certonly_standalone(name, name, extra=("--preferred-profile", target.profile or "default"))
    check_pem_chain(target, certbot.live(name), [name])


@pytest.mark.unsupported_by_reference(
    "Pebble as started here has no alternate root (PEBBLE_ALTERNATE_ROOTS=0)"
)
def test_certbot_preferred_chain_picks_the_cross_signed_chain(
    certbot: Certbot, target: Target, names: Names
) -> None:
    # RFC 8555 §7.4.2: the server links alternate chains; certbot picks by the top issuer's name.
    name = names.new("certbot-chain")
    certbot.certonly_standalone(name, name, extra=("--preferred-chain", "ACME Server Dev Cross Root CA"))
    chain = x509.load_pem_x509_certificates(certbot.live(name).read_bytes())
    top_issuer = chain[-1].issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert top_issuer == "ACME Server Dev Cross Root CA"
    assert chain[0].subject != chain[-1].subject


@pytest.mark.unsupported_by_reference("Pebble 2.4.0 has no operator action that moves an ARI window")
def test_certbot_renews_early_when_ari_says_so(certbot: Certbot, target: Target, names: Names) -> None:
    # RFC 9773 §4.2: a suggested window that ended tells the client to renew at once. certbot asks
    # renewalInfo on `renew`; the default window (the last third of the lifetime) is weeks away.
    assert "renewalInfo" in target.directory()
    asked, untouched = names.new("certbot-ari"), names.new("certbot-ari")
    certbot.certonly_standalone(asked, asked)
    certbot.certonly_standalone(untouched, untouched)
    first = check_pem_chain(target, certbot.live(asked), [asked])
    target.request_renewal(first)  # the operator's "renew now"
    done = certbot.run("renew", "--no-random-sleep-on-renew")
    renewed = check_pem_chain(target, certbot.live(asked), [asked])
    assert renewed.serial_number != first.serial_number, done.stdout + done.stderr
    assert (certbot.config_dir / "archive" / asked / "cert2.pem").exists()
    assert not (certbot.config_dir / "archive" / untouched / "cert2.pem").exists()
    assert f"{untouched}/fullchain.pem expires on" in done.stdout + done.stderr  # listed as not due


@pytest.mark.unsupported_by_reference(
    "Pebble 2.4.0 has no CA rotation (no operator action that moves an ARI window)"
)
def test_certbot_renews_onto_the_new_ca_when_its_ca_is_rotated(
    certbot: Certbot, target: Target, names: Names
) -> None:
    # RFC 9773 §4.2: the rotation moves each certificate's window to its moment (here: now), so an
    # ARI-aware certbot renews at its next `renew` without being told, from the CA the profile now
    # names; a certificate whose client never comes back is reported as not renewing.
    _require_flag(certbot, "--required-profile")
    profile = names.new("rotation").split(".")[0]
    old = target.rotation_profile(profile)
    renewing, silent = names.new("certbot-rotation"), names.new("certbot-rotation")
    for name in (renewing, silent):
        certbot.certonly_standalone(name, name, extra=("--required-profile", profile))
    first = check_pem_chain(target, certbot.live(renewing), [renewing])
    started = target.rotate_ca(old, f"{old}-next")
    assert (started["state"], started["onOldCa"], started["renewed"]) == ("renewing", 2, 0)
    done = certbot.run("renew", "--cert-name", renewing, "--no-random-sleep-on-renew")
    renewed = check_pem_chain(target, certbot.live(renewing), [renewing])
    assert renewed.serial_number != first.serial_number, done.stdout + done.stderr
    issuer = renewed.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert issuer == f"{old}-next"  # the new CA (created with its name as CN)
    status = target.rotation_status(old)
    assert (status["onOldCa"], status["renewed"], status["notRenewing"]) == (1, 1, 1)
