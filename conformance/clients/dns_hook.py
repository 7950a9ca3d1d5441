"""DNS-01 hook for clients that shell out (RFC 8555 §8.4): publishes and removes the TXT record at
_acme-challenge.<domain>. through pebble-challtestsrv's management API. Standard library only, so any
python3 can run it; the management URL comes from CONFORMANCE_CHALLTESTSRV.

    dns_hook.py certbot-auth | certbot-cleanup   certbot --manual-*-hook (CERTBOT_DOMAIN, CERTBOT_VALIDATION)
    dns_hook.py lego present|cleanup FQDN VALUE  lego --dns exec (EXEC_PATH)
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request

TIMEOUT = 10


def _manage(path: str, body: dict[str, str]) -> None:
    request = urllib.request.Request(
        os.environ["CONFORMANCE_CHALLTESTSRV"] + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        if response.status != 200:
            raise SystemExit(f"challtestsrv {path}: HTTP {response.status}")


def record_name(domain: str) -> str:
    """The absolute TXT owner name for a domain; a wildcard is validated at its base (§7.1.3)."""
    base = domain.removeprefix("*.").rstrip(".")
    if not base.startswith("_acme-challenge."):
        base = "_acme-challenge." + base
    return base + "."


def main(argv: list[str]) -> int:
    match argv:
        case ["certbot-auth"]:
            _manage(
                "/set-txt",
                {
                    "host": record_name(os.environ["CERTBOT_DOMAIN"]),
                    "value": os.environ["CERTBOT_VALIDATION"],
                },
            )
        case ["certbot-cleanup"]:
            _manage("/clear-txt", {"host": record_name(os.environ["CERTBOT_DOMAIN"])})
        case ["lego", "present", fqdn, value, *_]:
            _manage("/set-txt", {"host": record_name(fqdn), "value": value})
        case ["lego", "cleanup", fqdn, *_]:
            _manage("/clear-txt", {"host": record_name(fqdn)})
        case _:
            print(f"usage: {__doc__}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
