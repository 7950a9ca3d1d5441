"""Settings: flags beat the environment, which beats the TOML file; bad values are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acme_server.config import Settings, from_environment, load_settings, to_environment
from acme_server.errors import ConfigError


def test_defaults() -> None:
    settings = load_settings({}, {})
    assert settings == Settings()
    assert settings.directory_url == "https://127.0.0.1:14000/acme/directory"
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith(
        "data/acme-server.db"
    )


def test_flags_beat_environment_beats_toml(tmp_path: Path) -> None:
    config = tmp_path / "acme.toml"
    config.write_text(
        'listen = "127.0.0.1:1000"\nworkers = 3\nwebsite = "https://toml.example"\nhttp01_port = 8080\n'
    )
    environment = {
        "ACME_SERVER_CONFIG": str(config),
        "ACME_SERVER_LISTEN": "127.0.0.1:2000",
        "ACME_SERVER_WORKERS": "2",
    }
    settings = load_settings({"workers": "4", "listen": None}, environment)
    assert settings.listen == "127.0.0.1:2000"  # env over TOML; the flag was not given
    assert settings.workers == 4  # flag over env
    assert settings.website == "https://toml.example" and settings.http01_port == 8080  # TOML alone


def test_public_url_for_wildcard_listen_and_ipv6() -> None:
    assert load_settings({"listen": "0.0.0.0:443"}, {}).public_url == "https://127.0.0.1:443"
    assert load_settings({"listen": "[::1]:8443"}, {}).public_url == "https://[::1]:8443"
    assert (
        load_settings({"base_url": "https://ca.example.internal/"}, {}).public_url
        == "https://ca.example.internal"
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"listen": "nowhere"}, "listen: 'nowhere' is not HOST:PORT"),
        ({"listen": "example.com:80"}, "is not an IP address"),
        ({"workers": "zero"}, "workers: 'zero' is not a whole number"),
        ({"workers": "0"}, "workers: must be between 1 and 64"),
        ({"http01_port": "70000"}, "http01_port: must be between 1 and 65535"),
        ({"database": "mysql://x"}, "database: use a sqlite:/// or postgresql:// URL"),
        ({"base_url": "ftp://x"}, "base_url: must start with https:// or http://"),
        ({"test_nonce_reject_rate": "2"}, "test_nonce_reject_rate: must be between 0 and 1"),
        ({"eab_required": "maybe"}, "eab_required: 'maybe' is not true or false"),
        ({"dns_resolver": "nohost"}, "not HOST:PORT"),
        ({"blocked_networks": "10.0.0.0/33"}, "blocked_networks:"),
        ({"validation_timeout": "0"}, "validation_timeout: must be between 0.1 and 120"),
    ],
)
def test_bad_values_name_the_setting(flags: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(flags, {})


def test_toml_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("listen = \n")
    with pytest.raises(ConfigError, match="config file"):
        load_settings({"config": str(bad)}, {})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('colour = "blue"\n')
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        load_settings({"config": str(unknown)}, {})
    with pytest.raises(ConfigError, match="config file"):
        load_settings({"config": str(tmp_path / "missing.toml")}, {})


def test_validator_limits_reach_the_validator() -> None:
    from ipaddress import ip_network

    from acme_server.app import validation_settings

    settings = load_settings({"blocked_networks": "10.0.0.0/8, fd00::/8", "validation_timeout": "3"}, {})
    va = validation_settings(settings)
    assert va.blocked_networks == (ip_network("10.0.0.0/8"), ip_network("fd00::/8"))
    assert va.timeout == 3.0
    # The deployment's networks are added to the fixed list, never replace it.
    assert ip_network("169.254.0.0/16") in va.blocked
    assert ip_network("127.0.0.0/8") in va.blocked


def test_issue10_defect8_validator_block_list_settings_from_flag_env_and_toml(tmp_path: Path) -> None:
    from ipaddress import ip_address

    from acme_server.app import validation_settings

    default = validation_settings(load_settings({}, {}))
    assert (default.allow_loopback, default.block_private) == (False, False)
    # The server's own listen address (127.0.0.1:14000 by default) is resolved at start.
    assert ip_address("127.0.0.1") in default.own_addresses

    flags = load_settings({"validation_allow_loopback": True, "block_private": True}, {})
    env = {"ACME_SERVER_VALIDATION_ALLOW_LOOPBACK": "1", "ACME_SERVER_BLOCK_PRIVATE": "yes"}
    toml = tmp_path / "acme.toml"
    toml.write_text("validation_allow_loopback = true\nblock_private = true\n")
    for settings in (flags, load_settings({}, env), load_settings({"config": str(toml)}, {})):
        va = validation_settings(settings)
        assert (va.allow_loopback, va.block_private) == (True, True)
    with pytest.raises(ConfigError, match="block_private: 'maybe' is not true or false"):
        load_settings({}, {"ACME_SERVER_BLOCK_PRIVATE": "maybe"})


def test_caa_identities_from_flag_or_toml_list(tmp_path: Path) -> None:
    assert load_settings({"caa_identities": "CA.example.internal, ca2.example"}, {}).caa_identities == (
        "ca.example.internal",
        "ca2.example",
    )
    config = tmp_path / "c.toml"
    config.write_text('caa_identities = ["ca.example.internal"]\n')
    assert load_settings({"config": str(config)}, {}).caa_identities == ("ca.example.internal",)


def test_issue10_1_reload_commands_come_from_the_toml_file_or_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "acme.toml"
    config.write_text(
        'reload_as_root = true\n[reload_commands]\nnginx = "systemctl reload nginx"\n'
        'haproxy = ["systemctl", "reload", "haproxy"]\n'
    )
    settings = load_settings({"config": str(config)}, {})
    assert settings.reload_commands == (
        ("haproxy", ("systemctl", "reload", "haproxy")),
        ("nginx", ("systemctl", "reload", "nginx")),
    )
    assert settings.reload_as_root is True
    from_env = load_settings({}, {"ACME_SERVER_RELOAD_COMMANDS": '{"nginx": ["nginx", "-s", "reload"]}'})
    assert from_env.reload_commands == (("nginx", ("nginx", "-s", "reload")),)
    assert from_env.reload_as_root is False
    # `serve --workers N` hands the settings to each worker through the environment
    assert from_environment(to_environment(settings)) == settings


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[1]", "reload_commands: must be a table of name = command"),
        ("{", "reload_commands: not a JSON object"),
        ('{"bad name": "x"}', "reload_commands: 'bad name' is not a name"),
        ('{"x": ""}', "reload_commands.x: must be a command line or a list of words"),
        ('{"x": [1]}', "reload_commands.x: must be a command line or a list of words"),
        ('{"x": "a \'b"}', "reload_commands.x: cannot be split into words"),
    ],
)
def test_issue10_1_bad_reload_commands_name_the_setting(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("{", r"\{")):
        load_settings({}, {"ACME_SERVER_RELOAD_COMMANDS": value})


def test_issue10_1_sync_directories_from_toml_or_environment(tmp_path: Path) -> None:
    config = tmp_path / "acme.toml"
    config.write_text('sync_directories = ["/etc/nginx/tls", "/srv/tls"]\n')
    assert load_settings({"config": str(config)}, {}).sync_directories == ("/etc/nginx/tls", "/srv/tls")
    from_env = load_settings({}, {"ACME_SERVER_SYNC_DIRECTORIES": "/etc/nginx/tls, /srv/tls"})
    assert from_env.sync_directories == ("/etc/nginx/tls", "/srv/tls")
    with pytest.raises(ConfigError, match="sync_directories: 'relative' is not an absolute path"):
        load_settings({}, {"ACME_SERVER_SYNC_DIRECTORIES": "relative"})


def test_issue10_2_pending_authorizations_and_in_flight_bound_from_toml_env_and_flag(tmp_path: Path) -> None:
    config = tmp_path / "acme.toml"
    config.write_text(
        "max_in_flight = 64\n[rate_limits]\npending_authorizations_per_account = 200\n"
        "[rate_limits.profiles.web]\npending_authorizations_per_account = 20\n"
    )
    settings = load_settings({}, {"ACME_SERVER_CONFIG": str(config)})
    assert settings.max_in_flight == 64
    assert settings.rate_limits.pending_authorizations_per_account == 200
    assert settings.rate_limits.for_profile("web").pending_authorizations_per_account == 20
    defaults = Settings()
    assert defaults.max_in_flight == 512 and defaults.rate_limits.pending_authorizations_per_account == 1000
    # `serve` hands the limits to its workers as the TOML table they came from
    table = settings.rate_limits.to_config()
    again = load_settings({}, {"ACME_SERVER_RATE_LIMITS": json.dumps(table)})
    assert again.rate_limits == settings.rate_limits
    assert load_settings({"max_in_flight": "0"}, {"ACME_SERVER_MAX_IN_FLIGHT": "8"}).max_in_flight == 0
    with pytest.raises(ConfigError, match="max_in_flight: 'many' is not a whole number"):
        load_settings({}, {"ACME_SERVER_MAX_IN_FLIGHT": "many"})
    with pytest.raises(ConfigError, match=r"rate_limits\.pending_authorizations_per_account: must be"):
        load_settings({}, {"ACME_SERVER_RATE_LIMITS": '{"pending_authorizations_per_account": -1}'})


# One bad value of each kind of setting (each parser in acme_server/config.py), given as the
# environment a real command reads: one `error: <setting>: ...` line and exit status 1.
BAD_VALUE_OF_EACH_KIND = [
    ("ACME_SERVER_WORKERS", "2.5", "error: workers: '2.5' is not a whole number"),
    ("ACME_SERVER_SHUTDOWN_GRACE", "7200", "error: shutdown_grace: must be between 0 and 3600"),
    ("ACME_SERVER_CHALLENGE_WAIT", "soon", "error: challenge_wait: 'soon' is not a number"),
    ("ACME_SERVER_PROCESSING_LEASE", "0", "error: processing_lease: must be between 0.1 and 86400"),
    ("ACME_SERVER_RELOAD_AS_ROOT", "sometimes", "error: reload_as_root: 'sometimes' is not true or false"),
    ("ACME_SERVER_LOG_LEVEL", "loud", "error: log_level: 'loud' is not one of debug, info, warning, error"),
    ("ACME_SERVER_OCSP_RESPONDER", "nobody", "error: ocsp_responder: 'nobody' is not one of ca, delegated"),
    ("ACME_SERVER_LISTEN", "127.0.0.1", "error: listen: '127.0.0.1' is not HOST:PORT"),
    ("ACME_SERVER_STATUS_LISTEN", "on", "error: status_listen: 'on' is not HOST:PORT"),
    ("ACME_SERVER_DNS_RESOLVER", ":53", "error: dns_resolver: give HOST:PORT of a DNS server"),
    ("ACME_SERVER_DATABASE", "mysql://db", "error: database: use a sqlite:/// or postgresql:// URL"),
    ("ACME_SERVER_STATUS_URL", "pki.example", "error: status_url: must start with http:// (or https://)"),
    ("ACME_SERVER_BLOCKED_NETWORKS", "10.0.0.1/8", "error: blocked_networks: 10.0.0.1/8 has host bits set"),
    ("ACME_SERVER_SYNC_DIRECTORIES", "tls", "error: sync_directories: 'tls' is not an absolute path"),
    ("ACME_SERVER_RELOAD_COMMANDS", '{"x": 1}', "error: reload_commands.x: must be a command line or a list"),
    ("ACME_SERVER_RATE_LIMITS", '{"colour": 1}', "error: rate_limits: unknown setting 'colour'"),
    # the one rule between two settings: the default status listener is the main port + 80
    ("ACME_SERVER_LISTEN", "127.0.0.1:65500", "error: status_listen: give HOST:PORT or off (port 65500"),
]


@pytest.mark.parametrize(("variable", "value", "line"), BAD_VALUE_OF_EACH_KIND, ids=lambda v: str(v)[:24])
def test_a_bad_value_of_each_kind_is_one_error_line_and_exit_1(
    variable: str,
    value: str,
    line: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from acme_server.cli import main

    monkeypatch.setenv("ACME_SERVER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(variable, value)
    assert main(["ca", "list"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(line) and captured.err.count("\n") == 1, captured.err
    assert list(tmp_path.iterdir()) == []  # refused before anything was opened or written


def test_a_bad_value_in_the_toml_file_names_the_setting(tmp_path: Path) -> None:
    config = tmp_path / "acme.toml"
    config.write_text('workers = "many"\n')
    with pytest.raises(ConfigError, match=r"^workers: 'many' is not a whole number$"):
        load_settings({"config": str(config)}, {})


def test_every_setting_is_declared_once_with_its_variable_and_help() -> None:
    from dataclasses import fields

    from acme_server.config import ENVIRONMENT, PKCS11_PIN_ENV, SPECS

    assert list(SPECS) == [f.name for f in fields(Settings)]
    for name, spec in SPECS.items():
        assert spec.help, name
        expected = PKCS11_PIN_ENV if name == "pkcs11_pin" else "ACME_SERVER_" + name.upper()
        assert ENVIRONMENT[name] == expected


def test_workers_get_every_setting_back_unchanged(tmp_path: Path) -> None:
    """`serve --workers N` hands the validated value over as JSON and each worker reads it back
    through the same parsers: nothing is patched by hand on the way."""
    config = tmp_path / "acme.toml"
    config.write_text(
        'listen = "[::1]:8443"\ndata_dir = "/srv/acme"\ncaa_identities = ["ca.example"]\n'
        'sync_directories = ["/etc/tls"]\nrenewal_interval = 0\nlog_format = "json"\n'
        '[reload_commands]\nnginx = "nginx -s reload"\n'
        "[rate_limits]\nnew_orders_per_account = 7\nnew_orders_window = 60\n"
        "[rate_limits.profiles.web]\nnew_orders_per_account = 2\n"
    )
    settings = load_settings(
        {"config": str(config), "block_private": True, "status_listen": "off"}, {"ACME_PKCS11_PIN": "1234"}
    )
    restored = from_environment(to_environment(settings))
    assert restored == settings
    assert restored.pkcs11_pin == "1234" and restored.data_dir == Path("/srv/acme")
    assert "1234" not in repr(settings)  # the PIN is never in a repr (logs, tracebacks)
