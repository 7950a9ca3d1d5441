"""RFC 7512 URIs as the CA stores them, and where the PKCS#11 PIN may come from (no token needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from acme_server.config import load_settings
from acme_server.errors import ConfigError
from acme_server.hsm.uri import TokenURI, parse_uri
from acme_server.services.platform.keyring import load_pkcs11_pin


def test_rfc7512_percent_encoding_is_read_and_written_back() -> None:
    uri = parse_uri("pkcs11:token=Corp%20CA;object=root%3bkey;id=%01%ff;serial=0a1b;type=private")
    assert uri == TokenURI(token="Corp CA", object="root;key", id=b"\x01\xff", serial="0a1b")
    assert str(uri) == "pkcs11:token=Corp%20CA;serial=0a1b;object=root%3Bkey;id=%01%ff;type=private"
    assert parse_uri(str(uri)) == uri


def test_an_attribute_given_twice_is_refused() -> None:
    # RFC 7512 §2.3: each attribute at most once; which one would we sign with?
    with pytest.raises(ConfigError, match="pkcs11 URI: object is given twice"):
        parse_uri("pkcs11:token=ca;object=a;object=b")


def test_an_empty_id_is_refused() -> None:
    with pytest.raises(ConfigError, match="pkcs11 URI: id is empty"):
        parse_uri("pkcs11:token=ca;id=")


def test_the_pin_comes_from_the_environment_never_the_config_file(tmp_path: Path) -> None:
    settings = load_settings({}, {"ACME_PKCS11_PIN": "4321"})
    assert settings.pkcs11_pin == "4321" and "4321" not in repr(settings)
    config = tmp_path / "acme.toml"
    config.write_text('pkcs11_pin = "4321"\n')
    with pytest.raises(ConfigError, match="unknown setting 'pkcs11_pin'"):
        load_settings({"config": str(config)}, {})
    config.write_text('pkcs11_module = "/opt/hsm/lib.so"\npkcs11_pin_file = "/etc/acme/pin"\n')
    loaded = load_settings({"config": str(config)}, {})
    assert (loaded.pkcs11_module, loaded.pkcs11_pin_file) == ("/opt/hsm/lib.so", "/etc/acme/pin")


def test_a_pin_file_wins_and_must_be_private_and_not_empty(tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text("from-file\n")
    pin_file.chmod(0o600)
    assert load_pkcs11_pin(str(pin_file), "from-env") == "from-file"
    assert load_pkcs11_pin(None, "from-env") == "from-env"
    pin_file.chmod(0o640)
    with pytest.raises(ConfigError, match="readable by group or others"):
        load_pkcs11_pin(str(pin_file), None)
    pin_file.write_text("\n")
    pin_file.chmod(0o600)
    with pytest.raises(ConfigError, match="is empty"):
        load_pkcs11_pin(str(pin_file), None)
    with pytest.raises(ConfigError, match=r"cannot read .*nothing: No such file or directory"):
        load_pkcs11_pin(str(tmp_path / "nothing"), None)
