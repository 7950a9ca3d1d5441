"""Settings: one frozen, validated value built once from flags > environment > TOML file, then passed down.
Nothing else in the server reads the environment (ARCHITECTURE rule 7)."""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from acme_server.errors import ConfigError
from ca_core.durations import format_duration, parse_duration
from ca_core.errors import InvalidSetting

DEFAULT_LISTEN = "127.0.0.1:14000"
DEFAULT_DATA_DIR = "data"
STATUS_PORT_OFFSET = 80  # the default status listener: the main port + 80 (14000 -> 14080)
OCSP_RESPONDERS = ("ca", "delegated")
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
_CHOICES = {"ocsp_responder": OCSP_RESPONDERS, "log_level": LOG_LEVELS, "log_format": LOG_FORMATS}

# setting name -> environment variable (the TOML key is the setting name itself)
ENVIRONMENT = {
    "listen": "ACME_SERVER_LISTEN",
    "data_dir": "ACME_SERVER_DATA_DIR",
    "database": "ACME_SERVER_DATABASE",
    "workers": "ACME_SERVER_WORKERS",
    "base_url": "ACME_SERVER_BASE_URL",
    "kek": "ACME_SERVER_KEK",
    "pkcs11_module": "ACME_SERVER_PKCS11_MODULE",
    "pkcs11_pin_file": "ACME_SERVER_PKCS11_PIN_FILE",
    "http01_port": "ACME_SERVER_HTTP01_PORT",
    "tlsalpn01_port": "ACME_SERVER_TLSALPN01_PORT",
    "dns_resolver": "ACME_SERVER_DNS_RESOLVER",
    "eab_required": "ACME_SERVER_EAB_REQUIRED",
    "terms_of_service": "ACME_SERVER_TERMS_OF_SERVICE",
    "website": "ACME_SERVER_WEBSITE",
    "caa_identities": "ACME_SERVER_CAA_IDENTITIES",
    "validation_timeout": "ACME_SERVER_VALIDATION_TIMEOUT",
    "blocked_networks": "ACME_SERVER_BLOCKED_NETWORKS",
    "block_private": "ACME_SERVER_BLOCK_PRIVATE",
    "validation_allow_loopback": "ACME_SERVER_VALIDATION_ALLOW_LOOPBACK",
    "renewal_interval": "ACME_SERVER_RENEWAL_INTERVAL",
    "audit_retention": "ACME_SERVER_AUDIT_RETENTION",
    "processing_lease": "ACME_SERVER_PROCESSING_LEASE",
    "challenge_wait": "ACME_SERVER_CHALLENGE_WAIT",
    "database_busy_timeout": "ACME_SERVER_DATABASE_BUSY_TIMEOUT",
    "status_listen": "ACME_SERVER_STATUS_LISTEN",
    "status_url": "ACME_SERVER_STATUS_URL",
    "ocsp_responder": "ACME_SERVER_OCSP_RESPONDER",
    "reload_commands": "ACME_SERVER_RELOAD_COMMANDS",
    "reload_as_root": "ACME_SERVER_RELOAD_AS_ROOT",
    "sync_directories": "ACME_SERVER_SYNC_DIRECTORIES",
    "rate_limits": "ACME_SERVER_RATE_LIMITS",
    "max_in_flight": "ACME_SERVER_MAX_IN_FLIGHT",
    "log_level": "ACME_SERVER_LOG_LEVEL",
    "log_format": "ACME_SERVER_LOG_FORMAT",
    "shutdown_grace": "ACME_SERVER_SHUTDOWN_GRACE",
    "test_nonce_reject_rate": "ACME_SERVER_TEST_NONCE_REJECT_RATE",
    "test_validation_delay": "ACME_SERVER_TEST_VALIDATION_DELAY",
}
_FRACTIONS = {
    "test_nonce_reject_rate": (0.0, 1.0),
    "test_validation_delay": (0.0, 600.0),
    "validation_timeout": (0.1, 120.0),
    "renewal_interval": (0.0, 86400.0),
    "processing_lease": (0.1, 86400.0),
    "challenge_wait": (0.0, 30.0),
    "database_busy_timeout": (0.0, 600.0),
}
_BOOLEANS = frozenset({"eab_required", "block_private", "validation_allow_loopback", "reload_as_root"})
RELOAD_COMMAND_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_INTEGERS = {
    "workers": (1, 64),
    "http01_port": (1, 65535),
    "tlsalpn01_port": (1, 65535),
    "max_in_flight": (0, 1_000_000),
    "shutdown_grace": (0, 3600),
}
CONFIG_ENV = "ACME_SERVER_CONFIG"
# The PKCS#11 user PIN: from this variable or the file --pkcs11-pin-file names, never from a flag (which
# any user sees in `ps`) or the TOML file (docs/key-protection.md "CA keys in an HSM").
PKCS11_PIN_ENV = "ACME_PKCS11_PIN"


@dataclass(frozen=True)
class Limit:
    """At most `limit` events per fixed window of `window` seconds; limit 0: off."""

    limit: int
    window: int


@dataclass(frozen=True)
class OrderLimits:
    """The limits a profile may override (by name, in [rate_limits.profiles.NAME]); None: the global one."""

    new_orders_per_account: int | None = None
    failed_validations_per_identifier: int | None = None
    pending_authorizations_per_account: int | None = None


@dataclass(frozen=True)
class RateLimits:
    """docs/security.md "Rate limits": generous defaults for a private CA, each 0 = off."""

    new_accounts_per_ip: Limit = Limit(300, 3600)
    new_orders_per_account: Limit = Limit(3000, 3600)
    failed_validations_per_identifier: Limit = Limit(50, 3600)  # per account and identifier
    api_token_failures_per_ip: Limit = Limit(20, 300)
    ui_signin_failures_per_ip: Limit = Limit(10, 300)
    # Not per window: how many authorizations an account may hold pending at once (Let's Encrypt: 1,000).
    pending_authorizations_per_account: int = 1000
    profiles: tuple[tuple[str, OrderLimits], ...] = ()

    def for_profile(self, name: str) -> OrderLimits:
        return dict(self.profiles).get(name, OrderLimits())

    def to_config(self) -> dict[str, Any]:
        """The TOML table this value was read from (how `serve` hands it to its workers)."""
        table: dict[str, Any] = {}
        for name in LIMIT_NAMES:
            limit: Limit = getattr(self, name)
            table[name] = limit.limit
            table[name.split("_per_")[0] + "_window"] = limit.window
        table[PENDING_AUTHORIZATIONS] = self.pending_authorizations_per_account
        table["profiles"] = {
            profile: {k: v for k, v in vars(limits).items() if v is not None}
            for profile, limits in self.profiles
        }
        return table


LIMIT_NAMES = (
    "new_accounts_per_ip",
    "new_orders_per_account",
    "failed_validations_per_identifier",
    "api_token_failures_per_ip",
    "ui_signin_failures_per_ip",
)
PENDING_AUTHORIZATIONS = "pending_authorizations_per_account"
_PROFILE_LIMITS = ("new_orders_per_account", "failed_validations_per_identifier", PENDING_AUTHORIZATIONS)
_MAX_LIMIT = 10_000_000
_MAX_WINDOW = 7 * 86400


@dataclass(frozen=True)
class Settings:
    listen: str = DEFAULT_LISTEN
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    database: str | None = None  # None: SQLite file in data_dir
    workers: int = 1
    base_url: str | None = None  # None: derived from listen
    kek: str | None = None  # base64url key-encryption key; None: <data_dir>/kek.key
    # CA keys in a PKCS#11 token (docs/key-protection.md): the module to load (None: SoftHSM2's, when
    # installed), and the user PIN: a file (mode 0600) or, only from the environment, ACME_PKCS11_PIN.
    pkcs11_module: str | None = None
    pkcs11_pin_file: str | None = None
    pkcs11_pin: str | None = field(default=None, repr=False)
    http01_port: int = 80  # where the VA connects for http-01 (RFC 8555 §8.3 says 80)
    tlsalpn01_port: int = 443  # where the VA connects for tls-alpn-01 (RFC 8737 says 443)
    dns_resolver: str | None = None  # HOST:PORT for the VA's DNS look-ups; None: the system's
    eab_required: bool = False  # newAccount needs an external account binding (RFC 8555 §7.3.4)
    terms_of_service: str | None = None  # directory meta.termsOfService
    website: str | None = None  # directory meta.website
    caa_identities: tuple[str, ...] = ()  # directory meta.caaIdentities; CAA is checked when set
    validation_timeout: float = 10.0  # seconds per network step of a validation
    # The VA's block list (docs/security.md "Validator block list"): a fixed list, plus these.
    blocked_networks: str | None = None  # comma-separated CIDRs the VA also never connects to
    block_private: bool = False  # also block 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7
    validation_allow_loopback: bool = False  # let the VA connect to 127/8 and ::1 (test setups only)
    renewal_interval: float = 300.0  # seconds between auto-renewal passes of each worker; 0: no scheduler
    # docs/operations.md "Retention": prune audit events older than this once a day ("365d"); None: keep all.
    audit_retention: str | None = None
    # Seconds an order may stay `processing` before recovery fails it (a finalize cut short by a crash).
    processing_lease: float = 60.0
    # Seconds a challenge POST waits for its validation's outcome before answering `processing`.
    challenge_wait: float = 1.0
    database_busy_timeout: float = 30.0  # seconds a SQLite writer waits for another process's lock
    # CRLs, OCSP and renewalInfo over plain HTTP (relying parties fetch CRL DP and AIA URLs over http):
    status_listen: str | None = None  # HOST:PORT; None: the listen host, port + 80; "off": none
    status_url: str | None = None  # base URL written into CRL DP / AIA OCSP; None: from status_listen
    ocsp_responder: str = "ca"  # who signs OCSP responses: "ca" (its key) or "delegated" (RFC 6960 §4.2.2.2)
    # The only commands a `directory` sync may run after writing (docs/security.md "Sync reload
    # commands"): name -> argv, from [reload_commands] in the TOML file; a sync names one of them.
    reload_commands: tuple[tuple[str, tuple[str, ...]], ...] = ()
    reload_as_root: bool = False  # run them even when the server runs as root (off: refused)
    # Where directory syncs may write; operators may create directory syncs only when this is set.
    sync_directories: tuple[str, ...] = ()
    rate_limits: RateLimits = RateLimits()  # [rate_limits] (docs/security.md "Rate limits")
    # ACME requests one process works on at once; past it: 503 + Retry-After at once (docs/security.md
    # "Overload"). 0: no bound.
    max_in_flight: int = 512
    # docs/operations.md: the acme_server loggers' level, and text or one JSON object per line.
    # warning by default: the per-request lines (info) are opt-in, as they cost the hot path a log call.
    log_level: str = "warning"  # debug | info (one line per request) | warning | error
    log_format: str = "text"
    # Seconds SIGTERM waits for in-flight requests before closing their connections (uvicorn's
    # timeout_graceful_shutdown); the background workers then get their own few seconds.
    shutdown_grace: int = 30
    # Client testing aids, off by default (Pebble's PEBBLE_WFE_NONCEREJECT and PEBBLE_VA_SLEEPTIME):
    test_nonce_reject_rate: float = 0.0  # share of valid nonces refused with badNonce, 0..1
    test_validation_delay: float = 0.0  # seconds the VA waits before each validation

    @property
    def audit_retention_period(self) -> timedelta | None:
        return None if self.audit_retention is None else parse_duration(self.audit_retention)

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{(self.data_dir / 'acme-server.db').resolve()}"

    @property
    def public_url(self) -> str:
        """The base URL clients reach us at; written into CRL/OCSP/AIA links and the directory."""
        if self.base_url:
            return self.base_url.rstrip("/")
        return f"https://{_url_host(self.host)}:{self.port}"

    @property
    def status_address(self) -> tuple[str, int] | None:
        """Where the plain-HTTP status listener binds; None when it is off."""
        if self.status_listen is not None:
            return None if self.status_listen == "off" else split_listen(self.status_listen)
        if self.port + STATUS_PORT_OFFSET > 65535:
            raise ConfigError(f"status_listen: give HOST:PORT or off (port {self.port} + 80 is too high)")
        return self.host, self.port + STATUS_PORT_OFFSET

    @property
    def status_public_url(self) -> str:
        """The base URL of CRLs, OCSP and renewalInfo written into certificates: --status-url, else the
        status listener's address (the --base-url host when given), else the main public URL."""
        if self.status_url:
            return self.status_url.rstrip("/")
        address = self.status_address
        if address is None:
            return self.public_url
        host = urlsplit(self.base_url).hostname if self.base_url else None
        return f"http://{_url_host(host or address[0])}:{address[1]}"

    @property
    def kek_path(self) -> Path:
        return self.data_dir / "kek.key"

    @property
    def root_bundle_path(self) -> Path:
        return self.data_dir / "root.pem"

    @property
    def tls_dir(self) -> Path:
        return self.data_dir / "tls"

    @property
    def resolver_address(self) -> tuple[str, int] | None:
        return split_listen(self.dns_resolver) if self.dns_resolver else None

    @property
    def blocked_network_list(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None:
        if self.blocked_networks is None:
            return None
        try:
            return tuple(
                ipaddress.ip_network(n.strip()) for n in self.blocked_networks.split(",") if n.strip()
            )
        except ValueError as exc:
            raise ConfigError(f"blocked_networks: {exc}") from None

    @property
    def directory_url(self) -> str:
        return f"{self.public_url}/acme/directory"


def _url_host(host: str) -> str:
    """A listen host as it goes into a URL: a wildcard address becomes loopback, IPv6 gets brackets."""
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def split_listen(listen: str) -> tuple[str, int]:
    """ "127.0.0.1:14000", "[::1]:14000", ":14000" -> (host, port)."""
    host, sep, port_text = listen.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"listen: {listen!r} is not HOST:PORT")
    host = host.strip("[]") or "0.0.0.0"
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ConfigError(f"listen: {host!r} is not an IP address or 'localhost'") from None
    return host, int(port_text)


def load_settings(flags: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
    """Merge flags (None = not given) over environment over the TOML file named by --config or
    ACME_SERVER_CONFIG, then validate once."""
    merged: dict[str, Any] = {}
    config_path = flags.get("config") or environ.get(CONFIG_ENV)
    if config_path:
        merged.update(_read_toml(Path(config_path)))
    for name, variable in ENVIRONMENT.items():
        if environ.get(variable):
            merged[name] = environ[variable]
    merged.update({k: v for k, v in flags.items() if k in ENVIRONMENT and v is not None})
    if environ.get(PKCS11_PIN_ENV):
        merged["pkcs11_pin"] = environ[PKCS11_PIN_ENV]
    return _validate(Settings(), merged)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    unknown = sorted(set(data) - set(ENVIRONMENT))
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting {unknown[0]!r}")
    return data


def _ranged(name: str, value: Any, kind: type[int] | type[float], bounds: tuple[float, float]) -> Any:
    """An int or float setting within `bounds`, or a ConfigError naming it."""
    try:
        number = kind(value)
    except (TypeError, ValueError):
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name}: {value!r} is not {what}") from None
    low, high = bounds
    if not low <= number <= high:
        raise ConfigError(f"{name}: must be between {low:g} and {high:g}")
    return number


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name}: {value!r} is not true or false")


def _convert(name: str, value: Any) -> Any:  # noqa: C901 - one branch per kind of setting
    if name in _INTEGERS:
        return _ranged(name, value, int, _INTEGERS[name])
    if name in _FRACTIONS:
        return _ranged(name, value, float, _FRACTIONS[name])
    if name in _BOOLEANS:
        return _boolean(name, value)
    if name in ("log_level", "log_format"):
        return str(value).strip().lower()
    if name == "data_dir":
        return Path(str(value))
    if name == "audit_retention":  # "365d"; empty or "off": keep every event
        return _retention(str(value).strip().lower())
    if name == "reload_commands":
        return _reload_commands(value)
    if name == "rate_limits":
        return rate_limits_from(value)
    if name == "sync_directories":  # a TOML list or "/etc/nginx/tls, /srv/tls"
        items = value if isinstance(value, list) else str(value).split(",")
        directories = tuple(str(i).strip() for i in items if str(i).strip())
        for directory in directories:
            if not Path(directory).is_absolute():
                raise ConfigError(f"sync_directories: {directory!r} is not an absolute path")
        return directories
    if name == "caa_identities":  # a TOML list or "a.example, b.example"
        items = value if isinstance(value, list) else str(value).split(",")
        return tuple(str(i).strip().lower() for i in items if str(i).strip())
    return str(value)


def _retention(text: str) -> str | None:
    if text in ("", "off"):
        return None
    try:
        return format_duration(parse_duration(text, field="audit_retention"))
    except InvalidSetting as exc:
        raise ConfigError(exc.detail) from None


def rate_limits_from(value: Any) -> RateLimits:
    """The [rate_limits] TOML table (or, from the environment, the same as a JSON object):
    `<limit> = N` and `<event>_window = SECONDS` for each limit, [rate_limits.profiles.NAME] overrides."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(f"rate_limits: not a JSON object ({exc.msg})") from None
    if not isinstance(value, Mapping):
        raise ConfigError("rate_limits: must be a table")
    defaults = RateLimits()
    windows = {name.split("_per_")[0] + "_window": name for name in LIMIT_NAMES}
    unknown = sorted(set(value) - set(LIMIT_NAMES) - set(windows) - {PENDING_AUTHORIZATIONS, "profiles"})
    if unknown:
        raise ConfigError(f"rate_limits: unknown setting {unknown[0]!r}")
    chosen: dict[str, Any] = {}
    for name in LIMIT_NAMES:
        default: Limit = getattr(defaults, name)
        window_key = name.split("_per_")[0] + "_window"
        limit = _ranged(f"rate_limits.{name}", value.get(name, default.limit), int, (0, _MAX_LIMIT))
        window = _ranged(
            f"rate_limits.{window_key}", value.get(window_key, default.window), int, (1, _MAX_WINDOW)
        )
        chosen[name] = Limit(limit, window)
    chosen[PENDING_AUTHORIZATIONS] = _ranged(
        f"rate_limits.{PENDING_AUTHORIZATIONS}",
        value.get(PENDING_AUTHORIZATIONS, defaults.pending_authorizations_per_account),
        int,
        (0, _MAX_LIMIT),
    )
    profiles = value.get("profiles", {})
    if not isinstance(profiles, Mapping):
        raise ConfigError("rate_limits.profiles: must be a table of profile name -> limits")
    overrides = []
    for profile, table in profiles.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"rate_limits.profiles.{profile}: must be a table")
        extra = sorted(set(table) - set(_PROFILE_LIMITS))
        if extra:
            raise ConfigError(
                f"rate_limits.profiles.{profile}: {extra[0]!r} is not one of {', '.join(_PROFILE_LIMITS)}"
            )
        limits = {
            k: _ranged(f"rate_limits.profiles.{profile}.{k}", v, int, (0, _MAX_LIMIT))
            for k, v in table.items()
        }
        overrides.append((str(profile), OrderLimits(**limits)))
    return RateLimits(**chosen, profiles=tuple(sorted(overrides)))


def _reload_commands(value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """A TOML table (or, from the environment or a flag, a JSON object) of name -> command, where a
    command is a list of words or a line split like a shell would (no shell runs it)."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(f"reload_commands: not a JSON object of name -> command ({exc.msg})") from None
    if not isinstance(value, Mapping):
        raise ConfigError("reload_commands: must be a table of name = command")
    commands = []
    for name, command in value.items():
        if not isinstance(name, str) or not RELOAD_COMMAND_NAME.fullmatch(name):
            raise ConfigError(
                f"reload_commands: {name!r} is not a name (1-64 letters, digits, '.', '-', '_')"
            )
        try:
            words = shlex.split(command) if isinstance(command, str) else command
        except ValueError as exc:
            raise ConfigError(f"reload_commands.{name}: cannot be split into words: {exc}") from None
        if (
            not isinstance(words, list)
            or not words
            or not all(isinstance(w, str) for w in words)
            or not words[0]
        ):
            raise ConfigError(f"reload_commands.{name}: must be a command line or a list of words")
        commands.append((name, tuple(words)))
    return tuple(sorted(commands))


def _validate(base: Settings, values: Mapping[str, Any]) -> Settings:
    known = {f.name for f in fields(Settings)}
    settings = replace(base, **{name: _convert(name, v) for name, v in values.items() if name in known})
    split_listen(settings.listen)
    if settings.base_url and not settings.base_url.startswith(("https://", "http://")):
        raise ConfigError("base_url: must start with https:// or http://")
    if settings.status_url and not settings.status_url.startswith(("https://", "http://")):
        raise ConfigError("status_url: must start with http:// (or https://)")
    settings.status_address  # noqa: B018 - raises ConfigError for a bad HOST:PORT now
    for name, choices in _CHOICES.items():
        if getattr(settings, name) not in choices:
            raise ConfigError(f"{name}: {getattr(settings, name)!r} is not one of {', '.join(choices)}")
    if settings.database and not settings.database.startswith(("sqlite", "postgres")):
        raise ConfigError("database: use a sqlite:/// or postgresql:// URL")
    if settings.dns_resolver and split_listen(settings.dns_resolver)[0] == "0.0.0.0":
        raise ConfigError("dns_resolver: give HOST:PORT of a DNS server")
    settings.blocked_network_list  # noqa: B018 - raises ConfigError for a bad CIDR now, not at first use
    return settings
