"""Settings: one frozen, validated value built once from flags > environment > TOML file, then passed down.
Nothing else in the server reads the environment (ARCHITECTURE rule 7).

Each setting is declared once, as a field of `Settings` made by `setting(...)`: its default, its parser
(which converts and bounds the value, raising a one-line ConfigError that names it), its help text and
the commands that take it as a flag. The environment variable (ACME_SERVER_<NAME>), the TOML key (the
name), the CLI flags (cli/common.py add_setting_flags) and the form `serve` hands its workers
(to_environment / from_environment) all derive from that declaration."""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any, Final
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
RELOAD_COMMAND_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
CONFIG_ENV = "ACME_SERVER_CONFIG"
ENV_PREFIX: Final = "ACME_SERVER_"
# The PKCS#11 user PIN: from this variable or the file --pkcs11-pin-file names, never from a flag (which
# any user sees in `ps`) or the TOML file (docs/key-protection.md "CA keys in an HSM").
PKCS11_PIN_ENV = "ACME_PKCS11_PIN"
# Commands that take a setting as a flag: every command (the settings_options parent), or these.
EVERY_COMMAND: Final = "*"
SERVE: Final = ("serve",)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Parser = Callable[[str, Any], Any]  # (setting name, raw value from a flag, variable or TOML) -> value


@dataclass(frozen=True)
class Spec:
    """How one setting is read: `parse` converts and checks a raw value; `dump` turns the value back
    into what `parse` reads (the JSON `serve` hands its workers)."""

    parse: Parser
    help: str
    flag_on: tuple[str, ...] = ()  # commands with a --NAME flag; EVERY_COMMAND: all of them
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    is_switch: bool = False  # a flag without a value (sets True)
    env: str | None = None  # None: ACME_SERVER_<NAME>
    secret: bool = False  # from the environment only: never a flag or a TOML key, never in a repr
    dump: Callable[[Any], Any] = lambda value: value


def setting(default: Any, parse: Parser, help: str, **spec: Any) -> Any:
    """A Settings field with its declaration (see Spec) in the field metadata."""
    declared = Spec(parse, help, **spec)
    return field(default=default, repr=not declared.secret, metadata={"setting": declared})


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


def _text(name: str, value: Any) -> str:
    return str(value)


def _whole(low: int, high: int) -> Parser:
    return lambda name, value: _ranged(name, value, int, (low, high))


def _number(low: float, high: float) -> Parser:
    return lambda name, value: _ranged(name, value, float, (low, high))


def _choice(choices: tuple[str, ...], *, fold_case: bool = False) -> Parser:
    def parse(name: str, value: Any) -> str:
        text = str(value).strip().lower() if fold_case else str(value)
        if text not in choices:
            raise ConfigError(f"{name}: {text!r} is not one of {', '.join(choices)}")
        return text

    return parse


def _path(name: str, value: Any) -> Path:
    return Path(str(value))


def _listen(name: str, value: Any) -> str:
    split_listen(str(value), name=name)
    return str(value)


def _status_listen(name: str, value: Any) -> str:
    return "off" if str(value) == "off" else _listen(name, value)


def _dns_server(name: str, value: Any) -> str:
    text = str(value)  # "" (an empty TOML value): the system's resolver, as when not set
    if text and split_listen(text, name=name)[0] == "0.0.0.0":
        raise ConfigError(f"{name}: give HOST:PORT of a DNS server")
    return text


def _url(problem: str, schemes: tuple[str, ...] = ("https://", "http://")) -> Parser:
    def parse(name: str, value: Any) -> str:
        text = str(value)  # "" (an empty TOML value): the default, as when not set
        if text and not text.startswith(schemes):
            raise ConfigError(f"{name}: {problem}")
        return text

    return parse


def _networks(name: str, value: Any) -> tuple[IPNetwork, ...]:
    try:
        return tuple(ipaddress.ip_network(n.strip()) for n in str(value).split(",") if n.strip())
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _cidrs(name: str, value: Any) -> str:
    """Comma-separated networks, kept as given (blocked_network_list reads them)."""
    _networks(name, value)
    return str(value)


def _words(name: str, value: Any) -> tuple[str, ...]:
    """A TOML list or "a, b" from a flag or variable."""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return tuple(str(i).strip() for i in items if str(i).strip())


def _domains(name: str, value: Any) -> tuple[str, ...]:
    return tuple(word.lower() for word in _words(name, value))


def _absolute_paths(name: str, value: Any) -> tuple[str, ...]:
    directories = _words(name, value)
    for directory in directories:
        if not Path(directory).is_absolute():
            raise ConfigError(f"{name}: {directory!r} is not an absolute path")
    return directories


def _retention(name: str, value: Any) -> str | None:
    """A duration such as "365d" (kept in its canonical spelling); empty or "off": keep every event."""
    text = str(value).strip().lower()
    if text in ("", "off"):
        return None
    try:
        return format_duration(parse_duration(text, field=name))
    except InvalidSetting as exc:
        raise ConfigError(exc.detail) from None


def _default_status_address(listen: str) -> tuple[str, int]:
    host, port = split_listen(listen)
    if port + STATUS_PORT_OFFSET > 65535:
        raise ConfigError(f"status_listen: give HOST:PORT or off (port {port} + 80 is too high)")
    return host, port + STATUS_PORT_OFFSET


@dataclass(frozen=True)
class Settings:
    listen: str = setting(
        DEFAULT_LISTEN, _listen, "HOST:PORT (env ACME_SERVER_LISTEN, default 127.0.0.1:14000)", flag_on=SERVE
    )
    data_dir: Path = setting(
        Path(DEFAULT_DATA_DIR),
        _path,
        "data directory (env ACME_SERVER_DATA_DIR, default ./data)",
        flag_on=(EVERY_COMMAND,),
        dump=str,
    )
    database: str | None = setting(  # None: SQLite file in data_dir
        None,
        _url("use a sqlite:/// or postgresql:// URL", ("sqlite", "postgres")),
        "database URL (env ACME_SERVER_DATABASE; default SQLite in the data dir)",
        flag_on=(EVERY_COMMAND,),
    )
    workers: int = setting(
        1, _whole(1, 64), "worker processes (env ACME_SERVER_WORKERS, default 1)", flag_on=SERVE
    )
    base_url: str | None = setting(  # None: derived from listen
        None,
        _url("must start with https:// or http://"),
        "public base URL (env ACME_SERVER_BASE_URL; default from --listen)",
        flag_on=SERVE,
    )
    kek: str | None = setting(  # None: <data_dir>/kek.key
        None, _text, "base64url key-encryption key that seals private keys at rest"
    )
    # CA keys in a PKCS#11 token (docs/key-protection.md): the module to load (None: SoftHSM2's, when
    # installed), and the user PIN: a file (mode 0600) or, only from the environment, ACME_PKCS11_PIN.
    pkcs11_module: str | None = setting(
        None,
        _text,
        "PKCS#11 module of the token holding CA keys (env ACME_SERVER_PKCS11_MODULE; "
        "default SoftHSM2's when installed)",
        flag_on=(EVERY_COMMAND,),
        metavar="PATH",
    )
    pkcs11_pin_file: str | None = setting(
        None,
        _text,
        "file (mode 0600) with the token's user PIN (env ACME_SERVER_PKCS11_PIN_FILE; "
        "or the PIN itself in ACME_PKCS11_PIN)",
        flag_on=(EVERY_COMMAND,),
        metavar="FILE",
    )
    pkcs11_pin: str | None = setting(None, _text, "the token's user PIN", env=PKCS11_PIN_ENV, secret=True)
    http01_port: int = setting(  # RFC 8555 §8.3 says 80
        80, _whole(1, 65535), "port the VA connects to for http-01 (default 80)", flag_on=SERVE
    )
    tlsalpn01_port: int = setting(  # RFC 8737 says 443
        443, _whole(1, 65535), "port the VA connects to for tls-alpn-01 (default 443)", flag_on=SERVE
    )
    dns_resolver: str | None = setting(
        None,
        _dns_server,
        "HOST:PORT of the DNS server for validation (default: the system's)",
        flag_on=SERVE,
    )
    eab_required: bool = setting(  # RFC 8555 §7.3.4
        False,
        _boolean,
        "newAccount needs an external account binding (env ACME_SERVER_EAB_REQUIRED)",
        flag_on=SERVE,
        is_switch=True,
    )
    terms_of_service: str | None = setting(
        None, _text, "URL shown as the directory's termsOfService", flag_on=SERVE
    )
    website: str | None = setting(None, _text, "URL shown as the directory's website", flag_on=SERVE)
    caa_identities: tuple[str, ...] = setting(  # directory meta.caaIdentities; CAA is checked when set
        (),
        _domains,
        "comma-separated CAA issuer domains of this CA: shown in the directory and checked (RFC 8659)",
        flag_on=SERVE,
        metavar="DOMAINS",
        dump=list,
    )
    validation_timeout: float = setting(
        10.0, _number(0.1, 120.0), "per network step (default 10)", flag_on=SERVE, metavar="SECONDS"
    )
    # The VA's block list (docs/security.md "Validator block list"): a fixed list, plus these.
    blocked_networks: str | None = setting(
        None,
        _cidrs,
        "comma-separated networks validation also never connects to, added to the fixed block list",
        flag_on=SERVE,
        metavar="CIDRS",
    )
    block_private: bool = setting(
        False,
        _boolean,
        "validation also refuses the private ranges 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7",
        flag_on=SERVE,
        is_switch=True,
    )
    validation_allow_loopback: bool = setting(
        False,
        _boolean,
        "let validation connect to 127.0.0.0/8 and ::1 (test setups; blocked by default)",
        flag_on=SERVE,
        is_switch=True,
    )
    renewal_interval: float = setting(
        300.0,
        _number(0.0, 86400.0),
        "seconds between auto-renewal passes (env ACME_SERVER_RENEWAL_INTERVAL, default 300; 0: off)",
        flag_on=SERVE,
        metavar="SECONDS",
    )
    # docs/operations.md "Retention": prune audit events older than this once a day; None: keep all.
    audit_retention: str | None = setting(
        None,
        _retention,
        "prune audit events older than this once a day, e.g. 365d (env ACME_SERVER_AUDIT_RETENTION; "
        "default: keep all)",
        flag_on=SERVE,
        metavar="DURATION",
    )
    processing_lease: float = setting(
        60.0,
        _number(0.1, 86400.0),
        "seconds an order may stay processing before recovery fails it (a finalize cut short by a crash)",
    )
    challenge_wait: float = setting(
        1.0,
        _number(0.0, 30.0),
        "seconds a challenge POST waits for its validation's outcome before answering processing",
    )
    database_busy_timeout: float = setting(
        30.0, _number(0.0, 600.0), "seconds a SQLite writer waits for another process's lock"
    )
    # CRLs, OCSP and renewalInfo over plain HTTP (relying parties fetch CRL DP and AIA URLs over http):
    status_listen: str | None = setting(  # None: the listen host, port + 80; "off": none
        None,
        _status_listen,
        "plain-HTTP listener for CRLs, OCSP and renewalInfo (default: --listen port + 80; off: none)",
        flag_on=SERVE,
        metavar="HOST:PORT",
    )
    status_url: str | None = setting(  # None: from status_listen
        None,
        _url("must start with http:// (or https://)"),
        "base URL of CRLs and OCSP written into certificates (default: http:// of --status-listen)",
        flag_on=SERVE,
        metavar="URL",
    )
    ocsp_responder: str = setting(  # RFC 6960 §4.2.2.2 for "delegated"
        "ca",
        _choice(OCSP_RESPONDERS),
        "sign OCSP responses with the CA key (default) or a delegated responder certificate",
        flag_on=(*SERVE, "status-server"),
        choices=OCSP_RESPONDERS,
    )
    # The only commands a `directory` sync may run after writing (docs/security.md "Sync reload
    # commands"): name -> argv, from [reload_commands] in the TOML file; a sync names one of them.
    reload_commands: tuple[tuple[str, tuple[str, ...]], ...] = setting(
        (),
        lambda name, value: _reload_commands(value),
        "name -> command a directory sync may run after writing",
        dump=lambda commands: {name: list(words) for name, words in commands},
    )
    reload_as_root: bool = setting(
        False, _boolean, "run reload commands even when the server runs as root (off: refused)"
    )
    sync_directories: tuple[str, ...] = setting(  # operators may create directory syncs only when set
        (), _absolute_paths, "where directory syncs may write", dump=list
    )
    rate_limits: RateLimits = setting(  # [rate_limits] (docs/security.md "Rate limits")
        RateLimits(), lambda name, value: rate_limits_from(value), "rate limits", dump=RateLimits.to_config
    )
    # past it: 503 + Retry-After at once (docs/security.md "Overload")
    max_in_flight: int = setting(
        512,
        _whole(0, 1_000_000),
        "ACME requests one worker handles at once; more are answered 503 (default 512; 0: no bound)",
        flag_on=SERVE,
        metavar="N",
    )
    # docs/operations.md: the acme_server loggers' level, and text or one JSON object per line.
    # warning by default: the per-request lines (info) are opt-in, as they cost the hot path a log call.
    log_level: str = setting(
        "warning",
        _choice(LOG_LEVELS, fold_case=True),
        "log level (env ACME_SERVER_LOG_LEVEL, default warning; info: a line per request)",
        flag_on=SERVE,
        choices=LOG_LEVELS,
    )
    log_format: str = setting(
        "text",
        _choice(LOG_FORMATS, fold_case=True),
        "text, or json: one JSON object per line (env ACME_SERVER_LOG_FORMAT, default text)",
        flag_on=SERVE,
        choices=LOG_FORMATS,
    )
    # uvicorn's timeout_graceful_shutdown; the background workers then get their own few seconds.
    shutdown_grace: int = setting(
        30,
        _whole(0, 3600),
        "on SIGTERM, wait this long for in-flight requests (env ACME_SERVER_SHUTDOWN_GRACE, default 30)",
        flag_on=SERVE,
        metavar="SECONDS",
    )
    # Client testing aids, off by default (Pebble's PEBBLE_WFE_NONCEREJECT and PEBBLE_VA_SLEEPTIME):
    test_nonce_reject_rate: float = setting(
        0.0,
        _number(0.0, 1.0),
        "client testing aid: refuse this share (0..1) of valid nonces with badNonce (default 0)",
        flag_on=SERVE,
        metavar="RATE",
    )
    test_validation_delay: float = setting(
        0.0,
        _number(0.0, 600.0),
        "client testing aid: wait this long before each challenge validation (default 0)",
        flag_on=SERVE,
        metavar="SECONDS",
    )

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
            return (
                None
                if self.status_listen == "off"
                else split_listen(self.status_listen, name="status_listen")
            )
        return _default_status_address(self.listen)

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
        return split_listen(self.dns_resolver, name="dns_resolver") if self.dns_resolver else None

    @property
    def blocked_network_list(self) -> tuple[IPNetwork, ...] | None:
        return None if self.blocked_networks is None else _networks("blocked_networks", self.blocked_networks)

    @property
    def directory_url(self) -> str:
        return f"{self.public_url}/acme/directory"


# setting name -> its declaration, and -> its environment variable (the TOML key is the name itself)
SPECS: Final[Mapping[str, Spec]] = {f.name: f.metadata["setting"] for f in fields(Settings)}
ENVIRONMENT: Final[Mapping[str, str]] = {
    name: spec.env or ENV_PREFIX + name.upper() for name, spec in SPECS.items()
}
_FILE_KEYS: Final = frozenset(name for name, spec in SPECS.items() if not spec.secret)


def load_settings(flags: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
    """Merge flags (None = not given) over environment over the TOML file named by --config or
    ACME_SERVER_CONFIG, then validate once."""
    merged: dict[str, Any] = {}
    config_path = flags.get("config") or environ.get(CONFIG_ENV)
    if config_path:
        merged.update(_read_toml(Path(config_path)))
    merged.update(
        {name: environ[variable] for name, variable in ENVIRONMENT.items() if environ.get(variable)}
    )
    merged.update({k: v for k, v in flags.items() if k in _FILE_KEYS and v is not None})
    return _validated(merged)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    unknown = sorted(set(data) - _FILE_KEYS)
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting {unknown[0]!r}")
    return data


def _validated(values: Mapping[str, Any]) -> Settings:
    """Each given value through its setting's parser, then the one rule between settings."""
    settings = Settings(**{name: SPECS[name].parse(name, value) for name, value in values.items()})
    if settings.status_listen is None:
        _default_status_address(settings.listen)  # port + 80 must still be a port
    return settings


def to_environment(settings: Settings) -> str:
    """The settings as JSON, for `serve` to hand its uvicorn workers (from_environment reads it). A
    setting that is None is left out: None is its default, and never a value its parser reads."""
    values = {name: getattr(settings, name) for name in SPECS}
    return json.dumps({name: SPECS[name].dump(v) for name, v in values.items() if v is not None})


def from_environment(text: str) -> Settings:
    """What to_environment wrote, read back through the same parsers (so a worker validates too)."""
    return _validated(json.loads(text))


def _url_host(host: str) -> str:
    """A listen host as it goes into a URL: a wildcard address becomes loopback, IPv6 gets brackets."""
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def split_listen(listen: str, *, name: str = "listen") -> tuple[str, int]:
    """ "127.0.0.1:14000", "[::1]:14000", ":14000" -> (host, port); errors name the setting `name`."""
    host, sep, port_text = listen.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"{name}: {listen!r} is not HOST:PORT")
    host = host.strip("[]") or "0.0.0.0"
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ConfigError(f"{name}: {host!r} is not an IP address or 'localhost'") from None
    return host, int(port_text)
