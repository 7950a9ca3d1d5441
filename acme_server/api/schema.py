"""A small JSON Schema (2020-12 subset) checker: the schemas that document the API in OpenAPI are the
ones request bodies and query parameters are checked against, so the two cannot drift. Every failure is
an InvalidSetting naming the field path (`managed.altNames[1]`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from acme_server.api.schemas import DURATION_FORMAT
from ca_core.durations import parse_duration
from ca_core.errors import InvalidSetting

Schema = Mapping[str, Any]
REF_PREFIX = "#/components/schemas/"

_TYPES: dict[str, Callable[[object], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
_TYPE_WORDS = {"object": "an object", "array": "a list", "string": "a string", "integer": "an integer"}


def _check_date_time(value: str, path: str) -> None:
    if "T" not in value and " " not in value:
        date.fromisoformat(value)
        return
    parsed = datetime.fromisoformat(value)
    try:  # what the API does with it (inputs.instant); 9999-12-31T23:59:59-01:00 is past datetime.max
        parsed.astimezone(UTC)
    except OverflowError:
        raise InvalidSetting(path, f"{value!r} lies outside 0001-01-01 to 9999-12-31 in UTC") from None


def _check_duration(value: str, path: str) -> None:
    parse_duration(value, field=path)  # its own detail: "not a duration", "longer than zero", "too long"


_FORMATS: dict[str, tuple[Callable[[str, str], None], str]] = {
    "date-time": (_check_date_time, "an ISO 8601 date or date-time like 2027-01-31 or 2027-01-31T12:00:00Z"),
    DURATION_FORMAT: (_check_duration, "a duration like '30d', '12h30m' or '1y'"),
}


class Checker:
    """Checks values against schemas that may $ref the named `components`."""

    def __init__(self, components: Mapping[str, Schema]) -> None:
        self.components = components

    def resolve(self, schema: Schema) -> Schema:
        while "$ref" in schema:
            schema = self.components[str(schema["$ref"]).removeprefix(REF_PREFIX)]
        return schema

    def check(self, value: object, schema: Schema, path: str) -> None:
        schema = self.resolve(schema)
        self._check_type(value, schema, path)
        if "enum" in schema and value not in schema["enum"]:
            allowed = ", ".join(str(v) for v in schema["enum"])
            raise InvalidSetting(path, f"{value!r} is not one of {allowed}")
        if isinstance(value, str):
            self._check_string(value, schema, path)
        elif isinstance(value, int) and not isinstance(value, bool):
            self._check_range(value, schema, path)
        elif isinstance(value, dict):
            self._check_object(value, schema, path)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.check(item, schema.get("items", {}), f"{path}[{index}]")

    def _check_type(self, value: object, schema: Schema, path: str) -> None:
        expected = schema.get("type")
        if expected is None:
            return
        kinds = [expected] if isinstance(expected, str) else list(expected)
        if not any(_TYPES[kind](value) for kind in kinds):
            words = " or ".join(_TYPE_WORDS.get(kind, kind) for kind in kinds)
            raise InvalidSetting(path, f"must be {words}")

    def _check_string(self, value: str, schema: Schema, path: str) -> None:
        if "\x00" in value:  # PostgreSQL text cannot hold NUL; refuse it here rather than fail there
            raise InvalidSetting(path, "must not contain NUL characters")
        if len(value) < schema.get("minLength", 0):
            raise InvalidSetting(path, "must not be empty")
        if len(value) > schema.get("maxLength", len(value)):
            raise InvalidSetting(path, f"must be at most {schema['maxLength']} characters")
        if "format" in schema and schema["format"] in _FORMATS:
            check, words = _FORMATS[schema["format"]]
            try:
                check(value, path)
            except ValueError:
                raise InvalidSetting(path, f"{value!r} is not {words}") from None

    def _check_range(self, value: int, schema: Schema, path: str) -> None:
        if "minimum" in schema and value < schema["minimum"]:
            raise InvalidSetting(path, f"must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise InvalidSetting(path, f"must be at most {schema['maximum']}")

    def _check_object(self, value: dict[str, Any], schema: Schema, path: str) -> None:
        prefix = f"{path}." if path else ""
        properties: Mapping[str, Schema] = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                raise InvalidSetting(prefix + name, "is required")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if "\x00" in name:
                raise InvalidSetting(path or "body", "a key must not contain NUL characters")
            if name in properties:
                self.check(item, properties[name], prefix + name)
            elif extra is False:
                raise InvalidSetting(prefix + name, f"unknown field; expected one of {', '.join(properties)}")
            elif isinstance(extra, Mapping):
                self.check(item, extra, prefix + name)
