"""RFC 8555 §6 (message transport): every MUST we implement, asserted on the exact wire output."""

from __future__ import annotations

import json

import pytest

from ca_core.keys import KeyAlgorithm, generate_key
from tests.acme.client import jws
from tests.acme.conftest import AcmeServer

ERR = "urn:ietf:params:acme:error:"


def problem(response: object) -> dict[str, object]:
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    return dict(response.json())  # type: ignore[attr-defined]


async def test_s6_2_content_type_must_be_jose_json(acme: AcmeServer) -> None:
    client = await acme.client()
    response = await client.post(
        client.directory["newAccount"], {}, use_jwk=True, content_type="application/json"
    )
    assert response.status_code == 415
    assert problem(response)["type"] == ERR + "malformed"


async def test_s6_2_only_flattened_serialization(acme: AcmeServer) -> None:
    client = await acme.client()
    nonce = await client.nonce()
    url = client.directory["newAccount"]
    flat = jws(client.key, "ES256", {"alg": "ES256", "nonce": nonce, "url": url, "jwk": client.jwk}, b"{}")
    general = {
        "payload": flat["payload"],
        "signatures": [{"protected": flat["protected"], "signature": flat["signature"]}],
    }
    response = await client.http.post(
        url, content=json.dumps(general), headers={"Content-Type": "application/jose+json"}
    )
    assert response.status_code == 400
    assert problem(response)["type"] == ERR + "malformed"


@pytest.mark.parametrize("alg", ["none", "HS256", "RS384", "PS256"])
async def test_s6_2_unsupported_alg_is_bad_signature_algorithm_listing_ours(
    acme: AcmeServer, alg: str
) -> None:
    client = await acme.client()
    nonce = await client.nonce()
    url = client.directory["newAccount"]
    signed = jws(client.key, "ES256", {"alg": alg, "nonce": nonce, "url": url, "jwk": client.jwk}, b"{}")
    response = await client.http.post(
        url, content=json.dumps(signed), headers={"Content-Type": "application/jose+json"}
    )
    body = problem(response)
    assert response.status_code == 400
    assert body["type"] == ERR + "badSignatureAlgorithm"
    assert body["algorithms"] == ["ES256", "ES384", "ES512", "RS256", "EdDSA"]


async def test_s6_2_alg_must_fit_the_key(acme: AcmeServer) -> None:
    client = await acme.client()
    response = await client.post(client.directory["newAccount"], {}, use_jwk=True, alg="ES384")
    assert problem(response)["type"] == ERR + "badSignatureAlgorithm"


async def test_s6_2_jwk_and_kid_are_mutually_exclusive(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    response = await client.post(client.directory["newOrder"], {"identifiers": []}, extra={"jwk": client.jwk})
    assert problem(response)["type"] == ERR + "malformed"


async def test_s6_2_new_account_must_use_jwk_not_kid(acme: AcmeServer) -> None:
    client = await acme.client()
    await client.register()
    response = await client.post(client.directory["newAccount"], {"termsOfServiceAgreed": True})
    assert response.status_code == 400 and problem(response)["type"] == ERR + "malformed"


async def test_s6_2_bad_signature_is_malformed(acme: AcmeServer) -> None:
    client = await acme.client()
    other = generate_key(KeyAlgorithm.EC_prime256v1)
    nonce = await client.nonce()
    url = client.directory["newAccount"]
    signed = jws(other, "ES256", {"alg": "ES256", "nonce": nonce, "url": url, "jwk": client.jwk}, b"{}")
    response = await client.http.post(
        url, content=json.dumps(signed), headers={"Content-Type": "application/jose+json"}
    )
    assert response.status_code == 400
    assert problem(response)["type"] == ERR + "malformed"


async def test_s6_2_kid_of_unknown_account_is_account_does_not_exist(acme: AcmeServer) -> None:
    client = await acme.client()
    client.kid = f"{acme.url}/acme/account/nope"
    response = await client.new_order("a.example.internal")
    assert problem(response)["type"] == ERR + "accountDoesNotExist"


async def test_s6_3_get_on_a_post_as_get_resource_is_405(acme: AcmeServer) -> None:
    response = await acme.http.get(f"{acme.url}/acme/order/x")
    assert response.status_code == 405
    assert problem(response)["type"] == ERR + "malformed"


async def test_s6_4_url_must_equal_the_request_url(acme: AcmeServer) -> None:
    client = await acme.client()
    response = await client.post(
        client.directory["newAccount"], {}, use_jwk=True, header_url=acme.url + "/elsewhere"
    )
    assert response.status_code == 403
    assert problem(response)["type"] == ERR + "unauthorized"


async def test_s6_5_a_nonce_is_single_use(acme: AcmeServer) -> None:
    client = await acme.client()
    nonce = await client.nonce()
    first = await client.post(
        client.directory["newAccount"], {"termsOfServiceAgreed": True}, use_jwk=True, nonce=nonce
    )
    assert first.status_code == 201
    replay = await client.post(
        client.directory["newAccount"], {"termsOfServiceAgreed": True}, use_jwk=True, nonce=nonce
    )
    assert replay.status_code == 400
    assert problem(replay)["type"] == ERR + "badNonce"
    assert replay.headers["Replay-Nonce"]  # §6.5: a fresh nonce on the error, so the client can retry


@pytest.mark.parametrize("nonce", ["", "bm90LW91cnM", "A" * 43])
async def test_s6_5_unknown_nonces_are_bad_nonce(acme: AcmeServer, nonce: str) -> None:
    client = await acme.client()
    response = await client.post(client.directory["newAccount"], {}, use_jwk=True, extra={"nonce": nonce})
    assert problem(response)["type"] == ERR + "badNonce"


async def test_s6_5_every_response_carries_a_nonce_and_the_index_link(acme: AcmeServer) -> None:
    directory = await acme.http.get(acme.directory_url)
    missing = await acme.http.post(
        f"{acme.url}/acme/order/x", content=b"{}", headers={"Content-Type": "application/jose+json"}
    )
    for response in (directory, missing):
        assert response.headers["Replay-Nonce"]
        assert response.headers["Link"] == f'<{acme.directory_url}>;rel="index"'


async def test_s7_2_new_nonce_head_200_get_204_not_cached(acme: AcmeServer) -> None:
    client = await acme.client()
    head = await acme.http.head(client.directory["newNonce"])
    get = await acme.http.get(client.directory["newNonce"])
    assert (head.status_code, get.status_code) == (200, 204)
    assert head.headers["Cache-Control"] == "no-store" and get.headers["Cache-Control"] == "no-store"
    assert head.headers["Replay-Nonce"] != get.headers["Replay-Nonce"]


@pytest.mark.parametrize(
    "algorithm", [KeyAlgorithm.RSA_2048, KeyAlgorithm.EC_secp384r1, KeyAlgorithm.ED25519]
)
async def test_s6_2_account_keys_of_every_supported_algorithm(
    acme: AcmeServer, algorithm: KeyAlgorithm
) -> None:
    from tests.acme.client import ALG

    client = await acme.client(key=generate_key(algorithm), alg=ALG[algorithm])
    assert (await client.register()).status_code == 201
    assert (await client.new_order("alg.example.internal")).status_code == 201
