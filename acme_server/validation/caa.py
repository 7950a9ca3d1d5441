"""CAA (RFC 8659): may this CA issue for a name? Evaluated on the Relevant RRset the resolver climbs to."""

from __future__ import annotations

import re
from dataclasses import dataclass

from acme_server.services.ports import ChallengeType, ValidationOutcome
from acme_server.validation.resolver import CAARecord, CAASet, DNSLookupError, Resolver

# RFC 8659 §4 defines issue, issuewild and iodef; RFC 8659 §4.1: an unknown tag with the critical
# flag forbids issuance. Tags match case-insensitively (also §4.1).
KNOWN_TAGS = frozenset({"issue", "issuewild", "iodef"})

# RFC 8659 §4.2: issuer-domain-name = label *("." label); label = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))
_ISSUER = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$"
)
_PARAMETER = re.compile(r"^([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)[ \t]*=[ \t]*([\x21-\x3a\x3c-\x7e]*)$")


# RFC 8657 §4: validationmethods = [*(label ",") label], label = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))
_METHOD = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")


@dataclass(frozen=True)
class IssueValue:
    """A parsed issue/issuewild value: `issuer` is None for ";" (nobody may issue). `repeated` names
    parameters given more than once (RFC 8657 §3/§4 makes a property unsatisfiable for those)."""

    issuer: str | None
    parameters: dict[str, str]
    repeated: frozenset[str] = frozenset()


def parse_issue_value(value: str) -> IssueValue | None:
    """RFC 8659 §4.2 issue-value, or None when malformed (a malformed record authorizes nobody)."""
    domain, _, rest = value.partition(";")
    domain = domain.strip(" \t")
    if domain and not _ISSUER.match(domain):
        return None
    parameters: dict[str, str] = {}
    repeated: set[str] = set()
    for part in rest.split(";") if rest.strip(" \t") else []:
        match = _PARAMETER.match(part.strip(" \t"))
        if match is None:
            return None
        # Tags are matched case-insensitively (RFC 8659 §4.2 defines them with the property tags'
        # ABNF): "AccountURI=" must not slip past as an unknown, ignored parameter.
        tag = match.group(1).lower()
        if tag in parameters:
            repeated.add(tag)
        parameters[tag] = match.group(2)
    return IssueValue(issuer=domain.lower() or None, parameters=parameters, repeated=frozenset(repeated))


def _authorizes(
    record: CAARecord, identities: frozenset[str], method: ChallengeType | None, account_uri: str | None
) -> bool:
    parsed = parse_issue_value(record.value)
    if parsed is None or parsed.issuer not in identities:
        return False
    # RFC 8657 §3/§4: a property with the same parameter twice is unsatisfiable.
    if parsed.repeated & {"accounturi", "validationmethods"}:
        return False
    # RFC 8657 §3: accounturi restricts the property to the account with exactly that URL
    # (compared as the URL we hand out, case-sensitively, as Boulder does); no account known: no match.
    if "accounturi" in parsed.parameters and parsed.parameters["accounturi"] != account_uri:
        return False
    # RFC 8657 §4: validationmethods lists the ACME method names allowed, compared exactly (the
    # names RFC 8555 §9.7.8 registers are lower case). A malformed list authorizes nothing; names
    # this CA does not know are skipped; no method known (a check outside validation): refuse.
    if "validationmethods" in parsed.parameters:
        allowed = parsed.parameters["validationmethods"].split(",")
        if not all(_METHOD.match(name) for name in allowed):
            return False
        return method is not None and str(method) in allowed
    return True  # RFC 8659 §4.2: other parameters are not understood here and ignored


def evaluate_caa(
    relevant: CAASet,
    identities: tuple[str, ...],
    name: str,
    *,
    wildcard: bool,
    method: ChallengeType | None = None,
    account_uri: str | None = None,
) -> str | None:
    """Why issuance for `name` is forbidden by the Relevant RRset, or None when it is allowed."""
    if not relevant.records:
        return None  # RFC 8659 §3: an empty Relevant RRset puts no restriction on issuance.
    for record in relevant.records:
        if record.critical and record.tag.lower() not in KNOWN_TAGS:
            tag = record.tag
            return f"CAA record for {relevant.owner} has an unknown critical property {tag!r} (RFC 8659 §4.1)"
    issue = [r for r in relevant.records if r.tag.lower() == "issue"]
    issuewild = [r for r in relevant.records if r.tag.lower() == "issuewild"]
    # RFC 8659 §4.3: issuewild is ignored for non-wildcard names and, when present, replaces issue for
    # wildcard names.
    applicable = issuewild if wildcard and issuewild else issue
    if not applicable:
        return None  # RFC 8659 §4.2: without issue (or issuewild) properties nothing is restricted.
    wanted = frozenset(identity.lower() for identity in identities)
    if any(_authorizes(record, wanted, method, account_uri) for record in applicable):
        return None
    kind = "issuewild" if applicable is issuewild else "issue"
    return (
        f"CAA record for {relevant.owner} prevents issuance for {name}: no {kind} property authorizes this CA"
    )


async def check_caa(
    resolver: Resolver,
    identities: tuple[str, ...],
    name: str,
    *,
    wildcard: bool,
    method: ChallengeType | None = None,
    account_uri: str | None = None,
) -> ValidationOutcome | None:
    """None when this CA (any of `identities`) may issue for `name`, else an invalid outcome: `caa`
    when the records forbid it, `dns` when the lookup failed (RFC 8659 §3 gives no answer then, and
    issuing on a broken lookup would let an attacker who can break DNS bypass CAA)."""
    try:
        relevant = await resolver.lookup_caa(name)
    except DNSLookupError as error:
        return ValidationOutcome(
            valid=False, error_type="dns", detail=f"{error.detail} (while checking CAA for {name})"
        )
    reason = evaluate_caa(
        relevant, identities, name, wildcard=wildcard, method=method, account_uri=account_uri
    )
    if reason is None:
        return None
    return ValidationOutcome(valid=False, error_type="caa", detail=reason)
