"""Reading the camelCase JSON documents of profiles and policies: small typed readers that raise
InvalidSetting naming the exact field path (e.g. "altNames.dns.allowed[1]")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ca_core.errors import InvalidSetting


def read_object(value: object, path: str, keys: tuple[str, ...], *, root: str) -> Mapping[str, Any]:
    """An object with only `keys`; `root` names the document when `path` is empty."""
    if not isinstance(value, Mapping):
        raise InvalidSetting(path or root, "must be an object")
    for key in value:
        if key not in keys:
            where = f"{path}.{key}" if path else str(key)
            raise InvalidSetting(where, f"unknown setting; use {', '.join(keys)}")
    return value


def read_string(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise InvalidSetting(path, "must be a string")
    return value


def read_optional_string(value: object, path: str) -> str | None:
    return None if value is None else read_string(value, path)


def read_strings(value: object, path: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise InvalidSetting(path, "must be a list of strings")
    return tuple(read_string(item, f"{path}[{index}]") for index, item in enumerate(value))


def read_boolean(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidSetting(path, "must be true or false")
    return value


def read_integer(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):  # JSON true is no number
        raise InvalidSetting(path, "must be a whole number")
    return value
