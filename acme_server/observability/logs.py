"""Logging: level and format (text or one JSON object per line) for the acme_server loggers, and the
request id of the request being served (accepted from X-Request-ID when well-formed, else made here)
that the access line, the X-Request-ID response header and problem documents carry."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from contextvars import ContextVar
from typing import Any

# Letters, digits and the separators that UUIDs, trace ids and most proxies' ids use; at most 128.
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)

_HANDLER_NAME = "acme_server"


def request_id_from(header: bytes | None) -> str:
    """The client's or proxy's X-Request-ID when well-formed, otherwise a new random one."""
    if header is not None and _REQUEST_ID.fullmatch(header):
        return header.decode("ascii")
    return os.urandom(8).hex()


def with_request_id(document: dict[str, Any]) -> dict[str, Any]:
    """A server-side problem (5xx) with the request id as its `requestId` member (an RFC 7807 §3.2
    extension member), so the user's report leads to the log line holding the traceback. Client
    errors carry the id in the X-Request-ID header only: their documents stay exactly as before."""
    request_id = REQUEST_ID.get()
    if request_id is None or document["status"] < 500:
        return document
    return {**document, "requestId": request_id}


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request id, and the record's
    `fields` (the access line's method, path, route, status, ms)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id is not None:
            line["request_id"] = request_id
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger: message key=value ...` for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "fields", {})
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        extra = " ".join(f"{k}={v}" for k, v in fields.items())
        if request_id is not None and "request_id" not in fields:
            extra = f"request_id={request_id} {extra}".rstrip()
        return f"{text} {extra}" if extra else text


def configure_logging(level: str = "info", log_format: str = "text") -> None:
    """Install (or replace) the one handler of the `acme_server` loggers on standard error. Records
    still propagate, so a test's log capture sees them; under uvicorn the root logger has no handler."""
    logger = logging.getLogger("acme_server")
    for handler in list(logger.handlers):
        if handler.get_name() == _HANDLER_NAME:
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JSONFormatter() if log_format == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    # Audit lines (a private key handed out, and by whom) show at any level.
    logging.getLogger("acme_server.audit").setLevel(logging.INFO)
