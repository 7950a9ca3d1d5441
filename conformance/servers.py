"""The processes the conformance suite talks to, each on free loopback ports, waited for until it answers
and always terminated: pebble-challtestsrv (mock DNS and scriptable challenge responder), Pebble (the
reference ACME server) and our own `acme-server serve`. A `Target` is what every scenario sees."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conformance.balancer import RoundRobinBalancer

LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


class StartupError(RuntimeError):
    """A process did not come up; the message carries the tail of its log."""


# --- ports and processes


def free_port(*, udp_too: bool = False) -> int:
    """A loopback port nothing listens on now (TCP, and UDP as well for a DNS server)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((LOOPBACK, 0))
            port = int(tcp.getsockname()[1])
            if not udp_too:
                return port
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((LOOPBACK, port))
                except OSError:
                    continue
                return port
    raise StartupError("no free loopback port")


class Process:
    """One child process in its own process group, output to a log file, stopped by its own id only."""

    def __init__(self, name: str, argv: list[str], *, log: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log = log
        self.argv, self.env = argv, env
        self._log_file: IO[str] = log.open("w")
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM to the group this process leads (uvicorn workers included), SIGKILL to whatever is
        left after STOP_TIMEOUT; never any other process."""
        self._signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.popen.wait(timeout=STOP_TIMEOUT)
        deadline = time.monotonic() + STOP_TIMEOUT
        while self._signal(0) and time.monotonic() < deadline:  # members that outlive the leader
            time.sleep(0.1)
        self._signal(signal.SIGKILL)
        self._log_file.close()

    def kill(self) -> None:
        """SIGKILL to the whole group at once, as a crash or the OOM killer would: no shutdown code runs.
        Returns once every member is gone."""
        self._signal(signal.SIGKILL)
        self.popen.wait(timeout=STOP_TIMEOUT)
        deadline = time.monotonic() + STOP_TIMEOUT
        while self._signal(signal.SIGKILL) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._log_file.close()

    def relaunch(self, log: Path) -> Process:
        """The same command line and environment again, as a new process (this one has ended)."""
        return Process(self.name, self.argv, log=log, env=self.env)

    def _signal(self, sig: int) -> bool:
        """Signal the group; False once it has no member left. A group's id is never reused while the
        group exists, so this cannot reach an unrelated process."""
        try:
            os.killpg(self.popen.pid, sig)  # the group's id is our child's pid (start_new_session)
        except ProcessLookupError:
            return False
        return True


def wait_until(
    check: Callable[[], bool], *, what: str, process: Process | Sequence[Process], timeout: float
) -> None:
    """Poll `check` until it is true; fail early with the log tail if the process (any of them) died."""
    processes = [process] if isinstance(process, Process) else list(process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for running in processes:
            if not running.alive():
                raise StartupError(f"{running.name} exited ({running.popen.returncode}):\n{running.tail()}")
        try:
            if check():
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.1)
    tails = "\n".join(f"--- {running.name}\n{running.tail()}" for running in processes)
    raise StartupError(f"{what} did not answer within {timeout:.0f} s:\n{tails}")


def tcp_open(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


# --- pebble-challtestsrv


class ChallTestSrv:
    """pebble-challtestsrv: mock DNS (every A query answers 127.0.0.1, no AAAA, TXT through /set-txt) and,
    when given ports, the HTTP-01 and TLS-ALPN-01 responder scripted through its management API."""

    def __init__(
        self,
        workdir: Path,
        *,
        dns: bool = True,
        http01_port: int | None = None,
        tlsalpn01_port: int | None = None,
        name: str = "pebble-challtestsrv",
    ) -> None:
        binary = shutil.which("pebble-challtestsrv")
        if binary is None:
            raise StartupError("pebble-challtestsrv is not installed")
        self.management_port = free_port()
        self.dns_port = free_port(udp_too=True) if dns else None
        self.http01_port = http01_port
        self.tlsalpn01_port = tlsalpn01_port
        self.management_url = f"http://{LOOPBACK}:{self.management_port}"
        argv = [
            binary,
            "-management",
            f"{LOOPBACK}:{self.management_port}",
            "-dns01",
            f"{LOOPBACK}:{self.dns_port}" if self.dns_port else "",
            "-http01",
            f"{LOOPBACK}:{http01_port}" if http01_port else "",
            "-https01",
            "",
            "-tlsalpn01",
            f"{LOOPBACK}:{tlsalpn01_port}" if tlsalpn01_port else "",
            "-defaultIPv4",
            LOOPBACK,
            # No AAAA answers: validation must reach the IPv4 loopback where the responders listen.
            "-defaultIPv6",
            "",
        ]
        self.process = Process(name, argv, log=workdir / f"{name}.log")
        try:
            for port in (self.management_port, http01_port, tlsalpn01_port):
                if port:
                    wait_until(
                        functools.partial(tcp_open, port),
                        what=name,
                        process=self.process,
                        timeout=STARTUP_TIMEOUT,
                    )
        except BaseException:
            self.process.stop()
            raise

    @property
    def dns_address(self) -> str:
        assert self.dns_port is not None, "this challtestsrv serves no DNS"
        return f"{LOOPBACK}:{self.dns_port}"

    def _post(self, path: str, body: dict[str, object]) -> None:
        response = httpx.post(self.management_url + path, json=body, timeout=5)
        response.raise_for_status()

    def set_txt(self, host: str, value: str) -> None:
        """RFC 8555 §8.4: the TXT record at _acme-challenge.<domain>. (host is absolute, with the dot)."""
        self._post("/set-txt", {"host": host, "value": value})

    def clear_txt(self, host: str) -> None:
        self._post("/clear-txt", {"host": host})

    def add_http01(self, token: str, key_authorization: str) -> None:
        """RFC 8555 §8.3: served at /.well-known/acme-challenge/<token>."""
        self._post("/add-http01", {"token": token, "content": key_authorization})

    def del_http01(self, token: str) -> None:
        self._post("/del-http01", {"token": token})

    def add_tlsalpn01(self, host: str, key_authorization: str) -> None:
        """RFC 8737: a self-signed certificate with the acmeIdentifier extension for `host`."""
        self._post("/add-tlsalpn01", {"host": host, "content": key_authorization})

    def del_tlsalpn01(self, host: str) -> None:
        self._post("/del-tlsalpn01", {"host": host})

    def publish(self, challenge: str, domain: str, key_authorization: str) -> Callable[[], None]:
        """Serve the response to one challenge (RFC 8555 §8.3, §8.4, RFC 8737); returns its cleanup."""
        if challenge == "dns-01":
            host = f"_acme-challenge.{domain.removeprefix('*.')}."
            digest = hashlib.sha256(key_authorization.encode()).digest()
            self.set_txt(host, base64.urlsafe_b64encode(digest).decode().rstrip("="))
            return functools.partial(self.clear_txt, host)
        if challenge == "http-01":
            token = key_authorization.split(".", 1)[0]
            self.add_http01(token, key_authorization)
            return functools.partial(self.del_http01, token)
        if challenge == "tls-alpn-01":
            self.add_tlsalpn01(domain, key_authorization)
            return functools.partial(self.del_tlsalpn01, domain)
        raise ValueError(f"no responder for {challenge}")

    def stop(self) -> None:
        self.process.stop()


# --- targets


@dataclass(frozen=True)
class EAB:
    """External account binding credentials (RFC 8555 §7.3.4): key id and base64url HMAC key."""

    kid: str
    hmac_key: str


@dataclass
class Target:
    """One ACME server under test, as scenarios see it."""

    name: str
    directory_url: str
    trust_bundle: Path
    http01_port: int
    tlsalpn01_port: int
    workdir: Path
    process: Process
    # A profile the server advertises, when it supports profiles (draft-ietf-acme-profiles).
    profile: str | None = None

    @property
    def base_url(self) -> str:
        """scheme://host:port of the directory."""
        url = httpx.URL(self.directory_url)
        return f"{url.scheme}://{url.netloc.decode()}"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.trust_bundle))

    def http(self) -> httpx.Client:
        return httpx.Client(verify=self.ssl_context(), timeout=15)

    def directory(self) -> dict[str, object]:
        with self.http() as client:
            response = client.get(self.directory_url)
        response.raise_for_status()
        document: dict[str, object] = response.json()
        return document

    def issuer_roots(self) -> list[x509.Certificate]:
        """The roots that issued certificates chain to."""
        raise NotImplementedError

    def eab(self) -> EAB:
        """A fresh, unbound EAB key."""
        raise NotImplementedError

    def profile_directory_url(self, profile: str) -> str | None:
        """The directory of one profile, where the server offers one per profile."""
        return None

    def revocation_reason(self, certificate: x509.Certificate) -> x509.ReasonFlags | None:
        """The reason the CA records for a revoked certificate; None while it is not revoked."""
        raise NotImplementedError

    def request_renewal(self, certificate: x509.Certificate) -> None:
        """An operator asks for the certificate to be renewed now (its ARI window moves into the past)."""
        raise NotImplementedError

    def rotation_profile(self, name: str) -> str:
        """A CA of its own and an ACME profile `name` issuing from it, for a rotation scenario; returns
        the CA's name."""
        raise NotImplementedError

    def rotate_ca(self, old: str, new: str) -> dict[str, object]:
        """The operator rotates CA `old` onto a new CA `new` at once (no spread, no grace); the
        rotation's state and counts."""
        raise NotImplementedError

    def rotation_status(self, old: str) -> dict[str, object]:
        """The counts of `old`'s rotation: certificates still on it, renewed, not renewing."""
        raise NotImplementedError

    def stop(self) -> None:
        self.process.stop()


def _self_signed_ca(workdir: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a loopback certificate under it for Pebble's own HTTPS (Pebble ships test
    certificates in its source tree, not in the Debian package). Returns (ca.pem, cert.pem, key.pem)."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "conformance Pebble HTTPS CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())

    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = (workdir / "https-ca.pem", workdir / "https-cert.pem", workdir / "https-key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@dataclass
class PebbleTarget(Target):
    management_url: str = ""
    eab_keys: list[EAB] = field(default_factory=list)  # configured, not yet handed out

    def issuer_roots(self) -> list[x509.Certificate]:
        # Pebble makes a new root per start and serves it on its management interface.
        with self.http() as client:
            response = client.get(self.management_url + "/roots/0")
        response.raise_for_status()
        return x509.load_pem_x509_certificates(response.content)

    def eab(self) -> EAB:
        if not self.eab_keys:
            raise AssertionError("all EAB keys configured for Pebble were handed out")
        return self.eab_keys.pop()

    def revocation_reason(self, certificate: x509.Certificate) -> x509.ReasonFlags | None:
        with self.http() as client:
            response = client.get(
                f"{self.management_url}/cert-status-by-serial/{certificate.serial_number:x}"
            )
        response.raise_for_status()
        status = response.json()
        if status["Status"] != "Revoked":
            return None
        return _REASONS[int(status["Reason"])]


_REASONS = {
    0: x509.ReasonFlags.unspecified,
    1: x509.ReasonFlags.key_compromise,
    2: x509.ReasonFlags.ca_compromise,
    3: x509.ReasonFlags.affiliation_changed,
    4: x509.ReasonFlags.superseded,
    5: x509.ReasonFlags.cessation_of_operation,
    6: x509.ReasonFlags.certificate_hold,
    8: x509.ReasonFlags.remove_from_crl,
    9: x509.ReasonFlags.privilege_withdrawn,
    10: x509.ReasonFlags.aa_compromise,
}


def start_pebble(
    workdir: Path,
    challtestsrv: ChallTestSrv,
    *,
    eab_keys: int = 16,
    environment: Mapping[str, str] | None = None,
) -> PebbleTarget:
    """Pebble with a generated config: validation on free loopback ports, DNS from challtestsrv, EAB keys
    accepted but not required (so one instance serves the EAB scenarios and all the others).
    `environment` overrides Pebble's PEBBLE_* settings below (the benchmark turns authorization reuse on)."""
    binary = shutil.which("pebble")
    if binary is None:
        raise StartupError("pebble is not installed")
    workdir.mkdir(parents=True, exist_ok=True)
    ca, cert, key = _self_signed_ca(workdir)
    port, management, http01, tlsalpn01 = (free_port() for _ in range(4))
    # Pebble reads each HMAC key as unpadded base64url, the form clients are given too.
    keys = [EAB(f"kid-{i}-{secrets.token_hex(4)}", secrets.token_urlsafe(32)) for i in range(eab_keys)]
    config = {
        "pebble": {
            "listenAddress": f"{LOOPBACK}:{port}",
            "managementListenAddress": f"{LOOPBACK}:{management}",
            "certificate": str(cert),
            "privateKey": str(key),
            "httpPort": http01,
            "tlsPort": tlsalpn01,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            "externalAccountMACKeys": {k.kid: k.hmac_key for k in keys},
        }
    }
    config_path = workdir / "pebble-config.json"
    config_path.write_text(json.dumps(config, indent=2))
    env = dict(os.environ)
    env.update(
        PEBBLE_VA_NOSLEEP="1",  # validate at once
        PEBBLE_WFE_NONCEREJECT="0",  # no random badNonce: the nonce scenarios must be deterministic
        PEBBLE_AUTHZREUSE="0",  # every order gets fresh authorizations
    )
    env.update(environment or {})
    process = Process(
        "pebble",
        [binary, "-config", str(config_path), "-dnsserver", challtestsrv.dns_address],
        log=workdir / "pebble.log",
        env=env,
    )
    target = PebbleTarget(
        name="pebble",
        directory_url=f"https://{LOOPBACK}:{port}/dir",
        trust_bundle=ca,
        http01_port=http01,
        tlsalpn01_port=tlsalpn01,
        workdir=workdir,
        process=process,
        management_url=f"https://{LOOPBACK}:{management}",
        eab_keys=keys,
    )
    try:
        wait_until(_answers_directory(target), what="pebble", process=process, timeout=STARTUP_TIMEOUT)
    except BaseException:
        process.stop()
        raise
    return target


def _answers_directory(target: Target) -> Callable[[], bool]:
    return _directory_answers(target.directory_url, target.trust_bundle)


def _directory_answers(url: str, trust_bundle: Path) -> Callable[[], bool]:
    def check() -> bool:
        verify = ssl.create_default_context(cafile=str(trust_bundle))
        with httpx.Client(verify=verify, timeout=2) as client:
            response = client.get(url)
        return response.status_code == 200 and "newNonce" in response.json()

    return check


# --- our server


def is_postgresql(database_url: str | None) -> bool:
    return database_url is not None and database_url.startswith(("postgresql", "postgres:"))


@contextlib.contextmanager
def session_database(admin_url: str | None) -> Iterator[str | None]:
    """None (SQLite in the data directory) as is; for a PostgreSQL URL, a new database on that server
    for this session, dropped after, so every run starts from an empty schema."""
    if admin_url is None or not is_postgresql(admin_url):
        yield admin_url
        return
    import asyncio

    import asyncpg

    name = f"acme_conformance_{secrets.token_hex(6)}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(
            admin_url.replace("postgresql+asyncpg:", "postgresql:"), timeout=10
        )
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        parts = urlsplit(admin_url)
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class OurTarget(Target):
    database_url: str | None = None
    # With replicas: the key-encryption key they share, the other `acme-server serve` processes (the
    # first is `process`, whose data directory the CLI uses), and the balancer in front of them all.
    kek: str | None = None
    replicas: list[Process] = field(default_factory=list)
    balancer: RoundRobinBalancer | None = None

    def _cli(self, *args: str) -> str:
        argv = [*our_server_command(), *args, "--data-dir", str(self.workdir / "data")]
        if self.database_url:
            argv += ["--database", self.database_url]
        env = _our_env(kek=self.kek)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, check=False)
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    def issuer_roots(self) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(self.trust_bundle.read_bytes())

    def request_renewal(self, certificate: x509.Certificate) -> None:
        """docs/status.md: `acme-server cert request-renewal ID`, the id found by serial in the inventory."""
        serial = f"{certificate.serial_number:x}"
        serial = serial if len(serial) % 2 == 0 else "0" + serial
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        name = sans.get_values_for_type(x509.DNSName)[0]
        listed = json.loads(self._cli("cert", "list", "--search", name, "--json"))
        (found,) = [row["id"] for row in listed if row["serial"] == serial]
        self._cli("cert", "request-renewal", found)

    def rotation_profile(self, name: str) -> str:
        """docs/operations.md "Rotating a CA": an intermediate under the dev root and a profile on it."""
        ca = f"{name}-ca"
        self._cli("ca", "create-intermediate", ca, "--parent", "dev-root")
        self._cli("profile", "create", name, "--ca", ca, "--policy", "default")
        return ca

    def rotate_ca(self, old: str, new: str) -> dict[str, object]:
        """docs/operations.md: `acme-server ca rotate OLD --to NEW --create --spread 0 --grace 0`."""
        started: dict[str, object] = json.loads(
            self._cli("ca", "rotate", old, "--to", new, "--create", "--spread", "0", "--grace", "0", "--json")
        )
        return started

    def rotation_status(self, old: str) -> dict[str, object]:
        """docs/operations.md: `acme-server ca rotation status OLD --json`."""
        status: dict[str, object] = json.loads(self._cli("ca", "rotation", "status", old, "--json"))
        return status

    def eab(self, max_accounts: int = 1) -> EAB:
        """docs/cert-manager.md: `acme-server eab create --profile NAME` mints a key (for a fleet:
        `--max-accounts N`, docs/eab.md); with --json it prints {"kid": ..., "hmac": ...} (also read:
        "hmac_key", "hmacKey", or `key: value` lines)."""
        profile = self.profile or "default"
        output = self._cli(
            "eab", "create", "--profile", profile, "--max-accounts", str(max_accounts), "--json"
        )
        try:
            created = json.loads(output)
        except json.JSONDecodeError:
            created = dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)
        hmac_key = next(created[k] for k in ("hmac", "hmac_key", "hmacKey") if k in created)
        return EAB(str(created["kid"]), str(hmac_key))

    def profile_directory_url(self, profile: str) -> str | None:
        return f"{self.base_url}/acme/profiles/{profile}/directory"  # docs/acme.md

    def revocation_reason(self, certificate: x509.Certificate) -> x509.ReasonFlags | None:
        """From the CRL at the certificate's CRL distribution point (RFC 5280 §5.3.1 reason code)."""
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        names = points[0].full_name
        assert names, "the CRL distribution point has no full name"
        url = names[0].value
        with self.http() as client:
            response = client.get(url)
        response.raise_for_status()
        crl = x509.load_der_x509_crl(response.content)
        entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
        if entry is None:
            return None
        try:
            return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            return x509.ReasonFlags.unspecified

    def kill(self, replica: int | None = None) -> None:
        """SIGKILL one replica's process group (0 is `process`), or every one's (fault injection); the
        balancer keeps listening."""
        members = [self.process, *self.replicas]
        for process in members if replica is None else [members[replica]]:
            process.kill()

    def restart(self, log_suffix: str, replica: int | None = None) -> None:
        """One replica (or every one) again with its command line: the same ports, data directory and
        database; its log `log_suffix` apart from the last. Returns once its own directory answers."""
        members = [self.process, *self.replicas]
        chosen = range(len(members)) if replica is None else [replica]
        for index in chosen:
            old = members[index]
            members[index] = old.relaunch(old.log.parent / f"{old.name}.{log_suffix}.log")
        self.process, *self.replicas = members
        for index in chosen:
            port = self.balancer.upstreams[index] if self.balancer else httpx.URL(self.directory_url).port
            wait_until(
                _directory_answers(f"https://{LOOPBACK}:{port}/acme/directory", self.trust_bundle),
                what=f"restarted {members[index].name}",
                process=members[index],
                timeout=STARTUP_TIMEOUT,
            )

    def stop(self) -> None:
        """The balancer first (no new connections), then every replica, each whatever the others do."""
        _stop_all(self.balancer, [self.process, *self.replicas])


def _stop_all(balancer: RoundRobinBalancer | None, processes: list[Process]) -> None:
    errors: list[BaseException] = []
    for stop in ([balancer.stop] if balancer else []) + [p.stop for p in processes]:
        try:
            stop()
        except Exception as error:  # stop the rest, then report the first
            errors.append(error)
    if errors:
        raise errors[0]


def our_server_command() -> list[str]:
    """`.venv/bin/acme-server` next to this interpreter, else `python -m acme_server.cli`."""
    script = Path(sys.executable).parent / "acme-server"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "acme_server.cli"]


def _our_env(*, kek: str | None = None, environment: Mapping[str, str] | None = None) -> dict[str, str]:
    # Flags only: settings from the caller's environment must not leak into the server under test. The
    # KEK is the exception: it has no flag, and replicas must share one; so are the settings a caller
    # passes in `environment` on purpose (those without a flag, such as ACME_SERVER_PROCESSING_LEASE).
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACME_SERVER")}
    env.update(environment or {})
    if kek:
        env["ACME_SERVER_KEK"] = kek
    return env


@dataclass(frozen=True)
class _Replica:
    """One `acme-server serve` of a target, as started."""

    process: Process
    port: int
    data_dir: Path


def start_ours(
    workdir: Path,
    challtestsrv: ChallTestSrv,
    *,
    database_url: str | None,
    workers: int,
    replicas: int = 1,
    environment: Mapping[str, str] | None = None,
) -> OurTarget:
    """`acme-server serve` on a fresh data directory; ready once /acme/directory answers.

    With replicas > 1 (PostgreSQL only): that many servers on the one database, each with its own data
    directory but the first one's KEK, all with --base-url of a round-robin balancer in front of them
    and the same validation ports and DNS resolver, so whichever replica gets a request can serve it.
    `environment`: settings without a flag, for every replica (ACME_SERVER_PROCESSING_LEASE, ...)."""
    if replicas < 1:
        raise StartupError(f"replicas must be at least 1, not {replicas}")
    if replicas > 1 and not is_postgresql(database_url):
        raise StartupError(f"{replicas} replicas need a PostgreSQL database, not {database_url or 'SQLite'}")
    workdir.mkdir(parents=True, exist_ok=True)
    http01, tlsalpn01 = free_port(), free_port()
    balancer = RoundRobinBalancer(log=workdir / "balancer.log") if replicas > 1 else None
    started: list[_Replica] = []
    kek: str | None = None
    try:
        public_port = balancer.port if balancer else None
        for index in range(replicas):
            replica = _start_replica(
                workdir,
                index,
                challtestsrv,
                database_url=database_url,
                workers=workers,
                http01=http01,
                tlsalpn01=tlsalpn01,
                public_port=public_port,
                kek=kek,
                environment=environment,
            )
            started.append(replica)
            if balancer is not None and kek is None:
                # The first replica made the KEK (before its banner); the others must seal with it too.
                kek = (replica.data_dir / "kek.key").read_text().strip()
        first = started[0]
        if balancer is not None:
            _same_root(started)
            try:
                balancer.start([replica.port for replica in started])
            except RuntimeError as error:
                raise StartupError(str(error)) from error
            _balancer_reaches_every_replica(balancer, started)
        target = OurTarget(
            name="ours",
            directory_url=f"https://{LOOPBACK}:{public_port or first.port}/acme/directory",
            trust_bundle=first.data_dir / "root.pem",
            http01_port=http01,
            tlsalpn01_port=tlsalpn01,
            workdir=workdir,
            process=first.process,
            profile="default",  # the profile a fresh data directory is bootstrapped with
            database_url=database_url,
            kek=kek,
            replicas=[replica.process for replica in started[1:]],
            balancer=balancer,
        )
        wait_until(
            _answers_directory(target),
            what="acme-server" + (" behind the balancer" if balancer else ""),
            process=[replica.process for replica in started],
            timeout=STARTUP_TIMEOUT,
        )
    except BaseException:
        _stop_all(balancer, [replica.process for replica in started])
        raise
    return target


def _start_replica(
    workdir: Path,
    index: int,
    challtestsrv: ChallTestSrv,
    *,
    database_url: str | None,
    workers: int,
    http01: int,
    tlsalpn01: int,
    public_port: int | None,
    kek: str | None,
    environment: Mapping[str, str] | None = None,
) -> _Replica:
    """Replica `index` (0 for a lone server): started, banner checked, its own directory answering."""
    suffix = "" if index == 0 else f"-{index + 1}"
    data_dir = workdir / f"data{suffix}"
    port = free_port()
    argv = [
        *our_server_command(),
        "serve",
        "--data-dir",
        str(data_dir),
        "--listen",
        f"{LOOPBACK}:{port}",
        "--http01-port",
        str(http01),
        "--tlsalpn01-port",
        str(tlsalpn01),
        "--dns-resolver",
        challtestsrv.dns_address,
        # challtestsrv answers on loopback, which the validator refuses unless told (docs/security.md).
        "--validation-allow-loopback",
    ]
    if database_url:
        argv += ["--database", database_url]
    # CRLs and OCSP over plain HTTP on a port of its own (the default, --listen port + 80, may be taken).
    argv += ["--status-listen", f"{LOOPBACK}:{free_port()}"]
    if workers != 1:
        argv += ["--workers", str(workers)]
    if public_port is not None:
        argv += ["--base-url", f"https://{LOOPBACK}:{public_port}"]
    process = Process(
        f"acme-server{suffix}",
        argv,
        log=workdir / f"acme-server{suffix}.log",
        env=_our_env(kek=kek, environment=environment),
    )
    trust_bundle = data_dir / "root.pem"
    directory_url = f"https://{LOOPBACK}:{public_port or port}/acme/directory"
    try:
        # The banner's 4 lines (address, directory, trust bundle, database) come before the socket.
        wait_until(
            lambda: len(process.log.read_text().splitlines()) >= 4 and trust_bundle.exists(),
            what=f"{process.name} banner",
            process=process,
            timeout=120,
        )
        banner = process.log.read_text().splitlines()[:4]
        if banner[1].strip() != f"ACME directory: {directory_url}":
            raise StartupError(f"unexpected {process.name} banner:\n" + "\n".join(banner))
        wait_until(
            _directory_answers(f"https://{LOOPBACK}:{port}/acme/directory", trust_bundle),
            what=process.name,
            process=process,
            timeout=STARTUP_TIMEOUT,
        )
    except BaseException:
        process.stop()
        raise
    return _Replica(process, port, data_dir)


def _same_root(replicas: list[_Replica]) -> None:
    """Replicas on one database share its CA: one trust bundle verifies all of them."""
    first = replicas[0].data_dir / "root.pem"
    for replica in replicas[1:]:
        other = replica.data_dir / "root.pem"
        if other.read_bytes() != first.read_bytes():
            raise StartupError(f"{other} differs from {first}: the replicas do not share one CA")


def _balancer_reaches_every_replica(balancer: RoundRobinBalancer, replicas: list[_Replica]) -> None:
    """Each replica has its own HTTPS certificate: successive connections through the balancer must
    present each of them once, in turn, and verify against the shared trust bundle."""
    trust_bundle = replicas[0].data_dir / "root.pem"
    direct = [_server_certificate(replica.port, trust_bundle) for replica in replicas]
    if len(set(direct)) != len(direct):
        raise StartupError("two replicas present the same HTTPS certificate; the balancer cannot be checked")
    seen = [_server_certificate(balancer.port, trust_bundle) for _ in replicas]
    if sorted(seen) != sorted(direct):
        names = [replica.process.name for replica in replicas]
        reached = [names[direct.index(c)] if c in direct else "an unknown server" for c in seen]
        raise StartupError(f"connections through the balancer reached {reached}, not each of {names}")


def _server_certificate(port: int, trust_bundle: Path) -> bytes:
    """The DER certificate the HTTPS server on `port` presents, verified against the trust bundle."""
    context = ssl.create_default_context(cafile=str(trust_bundle))
    with (
        socket.create_connection((LOOPBACK, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=LOOPBACK) as tls,
    ):
        certificate = tls.getpeercert(binary_form=True)
    if certificate is None:
        raise StartupError(f"the server on port {port} presented no certificate")
    return certificate
