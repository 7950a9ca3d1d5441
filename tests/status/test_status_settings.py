"""The status settings: where the plain-HTTP status listener binds and which base URL certificates
name for their CRL distribution point and OCSP responder."""

from __future__ import annotations

import pytest

from acme_server.config import load_settings
from acme_server.errors import ConfigError


def test_default_status_listener_is_the_listen_port_plus_80() -> None:
    default = load_settings({}, {})
    assert default.status_address == ("127.0.0.1", 14080)
    assert default.status_public_url == "http://127.0.0.1:14080"
    moved = load_settings({"listen": "0.0.0.0:8443"}, {})
    assert moved.status_address == ("0.0.0.0", 8523)
    assert moved.status_public_url == "http://127.0.0.1:8523"


def test_base_url_host_and_explicit_status_url() -> None:
    behind = load_settings({"base_url": "https://acme.example.internal"}, {})
    assert behind.status_public_url == "http://acme.example.internal:14080"
    explicit = load_settings(
        {"status_url": "http://pki.example.internal/"}, {"ACME_SERVER_STATUS_LISTEN": ":80"}
    )
    assert explicit.status_address == ("0.0.0.0", 80)
    assert explicit.status_public_url == "http://pki.example.internal"


def test_status_listener_off_falls_back_to_the_main_url() -> None:
    off = load_settings({"status_listen": "off"}, {})
    assert off.status_address is None and off.status_public_url == "https://127.0.0.1:14000"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"status_listen": "somewhere"}, "is not HOST:PORT"),
        ({"status_url": "ftp://pki.example.internal"}, "status_url: must start with http://"),
        ({"ocsp_responder": "hsm"}, "ocsp_responder: 'hsm' is not one of ca, delegated"),
        ({"listen": "127.0.0.1:65500"}, "status_listen: give HOST:PORT or off"),
    ],
)
def test_bad_status_settings_are_one_line_errors(flags: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(flags, {})
    assert message in caught.value.detail
