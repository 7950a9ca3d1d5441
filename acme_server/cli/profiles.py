"""`acme-server profile ...`: what issued certificates look like (issuer, TTLs, usages, keys, renewal)."""

from __future__ import annotations

import argparse
from typing import Any

from acme_server.cli.common import read_json_object
from acme_server.cli.documents import DocumentCommands
from acme_server.errors import Malformed
from acme_server.services.config import profiles
from ca_core.keys import KeyAlgorithm
from ca_core.profile import ChallengeType, EnrollmentMethod, ExtendedKeyUsage, KeyUsage

# flag dest -> document key, for flags that map one to one
_SIMPLE = {
    "description": "description",
    "ca": "caId",
    "policy": "policyId",
    "default_ttl": "defaultTtl",
    "max_ttl": "maxTtl",
    "key_usage": "keyUsages",
    "eku": "extendedKeyUsages",
    "key_algorithm": "allowedKeyAlgorithms",
    "renew_before_days": "renewBeforeDays",
    "enrollment": "enrollmentMethods",
    "allow_wildcards": "allowWildcards",
    "require_eab": "requireEab",
    "pre_authorize": "preAuthorized",
    "authorization_reuse": "authorizationReuse",
    "challenge_type": "challengeTypes",
}


def _document(args: argparse.Namespace, base: dict[str, Any] | None = None) -> dict[str, Any]:
    if args.file:
        return read_json_object(args.file, what="profile document")
    document = dict(base or {})
    for dest, key in _SIMPLE.items():
        value = getattr(args, dest)
        if value is not None:
            document[key] = value
    if args.self_signed:
        document["issuerType"] = "self-signed"
        document["caId"] = None
    elif args.ca:
        document["issuerType"] = "ca"
    if args.ca_certificates is not None:
        document["basicConstraints"] = {"ca": args.ca_certificates, "pathLength": args.path_length}
    if args.auto_renew is not None:
        document["autoRenewByDefault"] = args.auto_renew
    if args.renewal_window is not None:
        document["renewalWindow"] = _renewal_window(args.renewal_window)
    return document


def _renewal_window(text: str) -> dict[str, int]:
    """ "50:75" -> {"start": 50, "end": 75} (percentages; the profile checks their range)."""
    start, sep, end = text.partition(":")
    if not sep or not start.strip().isdigit() or not end.strip().isdigit():
        raise Malformed(f"--renewal-window {text!r}: use START:END in percent of the lifetime, e.g. 67:100")
    return {"start": int(start), "end": int(end)}


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--file", help="a JSON profile document (the REST API's shape); other flags are ignored"
    )
    parser.add_argument("--description")
    parser.add_argument("--ca", help="issuing CA (id or name); sets issuer type 'ca'")
    parser.add_argument("--self-signed", action="store_true", help="issuer type 'self-signed'")
    parser.add_argument("--policy", help="policy (id or name) that requests are checked against")
    parser.add_argument("--default-ttl", help="e.g. 90d")
    parser.add_argument("--max-ttl", help="e.g. 397d")
    parser.add_argument("--key-usage", action="append", choices=list(KeyUsage), help="repeat for several")
    parser.add_argument("--eku", action="append", choices=list(ExtendedKeyUsage), help="repeat for several")
    parser.add_argument("--key-algorithm", action="append", choices=list(KeyAlgorithm), help="allowed keys")
    parser.add_argument("--enrollment", action="append", choices=list(EnrollmentMethod))
    parser.add_argument("--renew-before-days", type=int)
    parser.add_argument("--auto-renew", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument(
        "--ca-certificates",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="issue CA certificates (basicConstraints CA:TRUE)",
    )
    parser.add_argument("--path-length", type=int, help="pathLen for CA certificates")
    acme = parser.add_argument_group("ACME rules (docs/eab.md)")
    acme.add_argument(
        "--allow-wildcards",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="accept wildcard names (*.example.internal) in ACME orders (default: yes)",
    )
    acme.add_argument(
        "--require-eab",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="ACME accounts need an external account binding covering this profile (default: no)",
    )
    acme.add_argument(
        "--pre-authorize",
        action="append",
        metavar="PATTERN",
        help="DNS pattern granted to EAB-bound accounts without a challenge; repeat for several",
    )
    acme.add_argument(
        "--renewal-window",
        metavar="START:END",
        help="ACME renewalInfo window in percent of the lifetime (default 67:100, the last third)",
    )
    acme.add_argument(
        "--challenge-type",
        action="append",
        choices=list(ChallengeType),
        help="challenge type ACME authorizations offer; repeat for several (default: http-01, dns-01,"
        " tls-alpn-01)",
    )
    acme.add_argument(
        "--authorization-reuse",
        metavar="DURATION",
        help="reuse a validated authorization for this long, e.g. 30d (default); 0: never",
    )


COMMANDS = DocumentCommands(
    kind="profile",
    plural="profiles",
    help="certificate profiles",
    create=profiles.create_profile,
    update=profiles.update_profile,
    get=profiles.get_profile,
    list_all=profiles.list_profiles,
    delete=profiles.delete_profile,
    document=_document,
    options=_options,
    columns=("id", "name", "issuerType", "defaultTtl", "maxTtl", "description"),
    update_help="change a profile (flags given replace those settings)",
    delete_help="delete a profile no certificate uses",
    update_merges=True,
)
register = COMMANDS.register
