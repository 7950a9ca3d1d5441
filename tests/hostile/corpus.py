"""A corpus case: a named hostile request and the exact problem it must be answered with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

World = TypeVar("World")


@dataclass(frozen=True)
class Case(Generic[World]):
    name: str
    send: Callable[[World], Awaitable[httpx.Response]]
    status: int
    type: str  # the problem type
    # docs/api.md: a certificate request refused at issuance is recorded as failed with the reason
    records_failure: bool = False


def problem_of(response: httpx.Response, case: Case[Any], problem_type: str) -> dict[str, Any]:
    """The problem document of `response`, asserted to carry the case's status and `problem_type`."""
    assert (response.status_code, response.headers.get("content-type")) == (
        case.status,
        "application/problem+json",
    ), response.text
    document: dict[str, Any] = response.json()
    assert (document["type"], document["status"]) == (problem_type, case.status), document
    return document
