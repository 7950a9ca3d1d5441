"""The validation authority (VA): NetworkValidator checks challenges over the network (ports.Validator)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from types import TracebackType
from typing import Any

from acme_server.services.ports import (
    ChallengeType,
    IdentifierType,
    ValidationOutcome,
    ValidationTask,
)
from acme_server.validation import caa
from acme_server.validation.dns01 import validate_dns01, validate_dns_account01
from acme_server.validation.dns_wire import WireError
from acme_server.validation.dnspersist01 import validate_dns_persist01
from acme_server.validation.failures import ValidationFailure
from acme_server.validation.http01 import HTTP01
from acme_server.validation.resolver import Resolver
from acme_server.validation.settings import ValidationSettings
from acme_server.validation.targets import check_token, parse_identifier
from acme_server.validation.tlsalpn01 import TLSALPN01

__all__ = ["NetworkValidator", "ValidationSettings"]


class NetworkValidator:
    """Implements ports.Validator. validate() never raises for a network problem: every failure is
    an outcome with an RFC 8555 §6.7 error type and a detail; only programming errors propagate.
    `records` lists what was contacted (hostname, port, url, addresses_resolved, address_used)."""

    def __init__(self, settings: ValidationSettings) -> None:
        self.settings = settings
        self._resolver = Resolver(settings)
        self._http01 = HTTP01(settings, self._resolver)
        self._tlsalpn01 = TLSALPN01(settings, self._resolver)

    async def aclose(self) -> None:
        """Nothing to release: every validation opens and closes its own connections."""

    async def __aenter__(self) -> NetworkValidator:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def validate(self, task: ValidationTask) -> ValidationOutcome:
        records: list[dict[str, Any]] = []
        try:
            valid_until = await self._check_challenge(task, records)
        except ValidationFailure as failure:
            return _invalid(failure.error_type, failure.detail, records)
        except (OSError, WireError) as error:
            # A network error the checks did not name more precisely still is the client's problem
            # to see, not a crash of the validation worker.
            return _invalid("connection", f"network error during validation: {type(error).__name__}", records)
        if task.identifier_type == IdentifierType.DNS and self.settings.caa_identities:
            # RFC 8659: checked before the challenge is declared valid, as Boulder does, after the
            # challenge passed: RFC 8657's parameters need the method that was used and the
            # account that asked; a wildcard authorization is held to `issuewild` (RFC 8659 §4.3).
            refused = await self.check_caa(
                task.identifier_value,
                wildcard=task.wildcard,
                method=task.challenge_type,
                account_uri=task.account_uri,
            )
            if refused is not None:
                return replace(refused, records=tuple(records))
        return ValidationOutcome(valid=True, records=tuple(records), valid_until=valid_until)

    async def check_caa(
        self,
        name: str,
        *,
        wildcard: bool,
        method: ChallengeType | None = None,
        account_uri: str | None = None,
    ) -> ValidationOutcome | None:
        """None when CAA allows this CA to issue for `name` (or caa_identities is empty), else an
        invalid outcome (`caa`, or `dns` when the lookup failed). `method` and `account_uri` are
        what RFC 8657 validationmethods and accounturi are matched against."""
        if not self.settings.caa_identities:
            return None
        name = name.lower().removeprefix("*.").removesuffix(".")
        return await caa.check_caa(
            self._resolver,
            self.settings.caa_identities,
            name,
            wildcard=wildcard,
            method=method,
            account_uri=account_uri,
        )

    async def _check_challenge(self, task: ValidationTask, records: list[dict[str, Any]]) -> datetime | None:
        """Raises ValidationFailure; returns until when the validation may be relied on, if limited."""
        identifier = parse_identifier(task)
        match task.challenge_type:
            case ChallengeType.HTTP_01:
                check_token(task.token)
                await self._http01.validate(identifier, task.token, task.key_authorization, records)
            case ChallengeType.DNS_01:
                await validate_dns01(identifier, task.key_authorization, self._resolver, records)
            case ChallengeType.DNS_ACCOUNT_01:
                await validate_dns_account01(identifier, task, self._resolver, records)
            case ChallengeType.DNS_PERSIST_01:
                return await validate_dns_persist01(
                    identifier, task, self.settings.caa_identities, self._resolver, records
                )
            case ChallengeType.TLS_ALPN_01:
                await self._tlsalpn01.validate(identifier, task.key_authorization, records)
            case _:
                raise ValueError(f"unknown challenge type {task.challenge_type!r}")
        return None


def _invalid(error_type: str, detail: str, records: list[dict[str, Any]]) -> ValidationOutcome:
    return ValidationOutcome(valid=False, error_type=error_type, detail=detail, records=tuple(records))
