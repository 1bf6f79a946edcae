"""One contract for every TokenVerifier: HS256 (memory tokens) and RS256 against a Cognito JWKS.

The Cognito verifier fetches the JWKS over HTTP from moto's server
(``/<pool id>/.well-known/jwks.json``); tokens are signed with the key moto signs its own pool
tokens with, so a forged claim is the only difference between a good and a bad token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.utilities.utils import load_resource

from {{cookiecutter.package_name}}.adapters.tokens.cognito import CognitoJwtVerifier
from {{cookiecutter.package_name}}.adapters.tokens.hs256 import DEFAULT_KEY_ID
from {{cookiecutter.package_name}}.ports.errors import AuthenticationFailed, BackendUnavailable
from {{cookiecutter.package_name}}.ports.identity import TokenVerifier

from tests.support.identity import (
    AUDIENCE,
    ISSUER,
    JWT_SECRET,
    REGION,
    cognito_verifier,
    create_cognito_pool,
    hs256_verifier,
)
from tests.support.services import free_port

MOTO_KID = "dummy"  # the kid of moto's pool signing key (its jwks-public.json)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def hmac_token(claims: dict[str, Any], key: bytes, kid: str | None) -> str:
    """An HS256 JWT built by hand: PyJWT refuses to use a PEM public key as an HMAC secret,
    which is exactly the confusion attack we need to present."""
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


@dataclass
class FakeClock:
    now: float = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class VerifierUnderTest:
    name: str
    verifier: TokenVerifier
    kid: str
    audience_claim: str
    claims: Callable[[], dict[str, Any]]
    sign: Callable[[dict[str, Any], str | None], str]  # claims, kid -> a token the key trusts
    sign_with_other_key: Callable[[dict[str, Any]], str]
    rsa_public_pem: bytes
    jwks_fetches: list[str] | None = None
    clock: FakeClock = field(default_factory=FakeClock)


def now() -> int:
    return int(time.time())


def moto_private_key() -> Any:
    return jwt.PyJWK(load_resource("cognitoidp/resources/jwks-private.json"), "RS256").key


def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(params=["hs256", "cognito-rs256"])
async def under_test(request: pytest.FixtureRequest) -> AsyncIterator[VerifierUnderTest]:
    if request.param == "hs256":
        rsa_key = other_rsa_key()

        def hs_claims() -> dict[str, Any]:
            t = now()
            return {
                "iss": ISSUER,
                "aud": AUDIENCE,
                "sub": str(uuid.uuid4()),
                "username": "alice",
                "roles": ["editor"],
                "token_use": "access",
                "iat": t,
                "nbf": t,
                "exp": t + 600,
                "jti": uuid.uuid4().hex,
            }

        def hs_sign(claims: dict[str, Any], kid: str | None) -> str:
            headers = {"kid": kid} if kid is not None else None
            return jwt.encode(claims, JWT_SECRET, algorithm="HS256", headers=headers)

        def hs_sign_other(claims: dict[str, Any]) -> str:
            return jwt.encode(
                claims, "another-secret-" + "y" * 40, algorithm="HS256", headers={"kid": "hs256-1"}
            )

        yield VerifierUnderTest(
            "hs256",
            hs256_verifier(),
            DEFAULT_KEY_ID,
            "aud",
            hs_claims,
            hs_sign,
            hs_sign_other,
            public_pem(rsa_key),
        )
        return

    endpoint: str = request.getfixturevalue("moto_endpoint")
    pool = await create_cognito_pool(endpoint)
    private_key = moto_private_key()
    fetches: list[str] = []

    async def record(http_request: httpx.Request) -> None:
        fetches.append(str(http_request.url))

    clock = FakeClock()
    async with httpx.AsyncClient(event_hooks={"request": [record]}) as http:
        verifier = cognito_verifier(
            pool, http_client=http, clock=clock, min_refresh_interval_seconds=30
        )
        issuer = f"https://cognito-idp.{REGION}.amazonaws.com/{pool.user_pool_id}"

        def rs_claims() -> dict[str, Any]:
            t = now()
            return {
                "iss": issuer,
                "client_id": pool.client_id,
                "sub": str(uuid.uuid4()),
                "username": "alice",
                "cognito:groups": ["editor"],
                "token_use": "access",
                "iat": t,
                "auth_time": t,
                "exp": t + 600,
                "jti": uuid.uuid4().hex,
            }

        def rs_sign(claims: dict[str, Any], kid: str | None) -> str:
            headers = {"kid": kid} if kid is not None else None
            return jwt.encode(claims, private_key, algorithm="RS256", headers=headers)

        def rs_sign_other(claims: dict[str, Any]) -> str:
            return jwt.encode(claims, other_rsa_key(), algorithm="RS256", headers={"kid": MOTO_KID})

        yield VerifierUnderTest(
            "cognito-rs256",
            verifier,
            MOTO_KID,
            "client_id",
            rs_claims,
            rs_sign,
            rs_sign_other,
            public_pem(private_key),
            jwks_fetches=fetches,
            clock=clock,
        )
        await verifier.close()


async def rejected(under_test: VerifierUnderTest, token: str, message: str) -> None:
    with pytest.raises(AuthenticationFailed, match=message) as caught:
        await under_test.verifier.verify(token)
    assert token not in caught.value.message


async def test_valid_token_gives_the_principal(under_test: VerifierUnderTest) -> None:
    claims = under_test.claims()
    principal = await under_test.verifier.verify(under_test.sign(claims, under_test.kid))
    assert principal.subject == claims["sub"]
    assert principal.username == "alice"
    assert principal.roles == {"editor"}
    assert principal.claims["jti"] == claims["jti"]


async def test_small_clock_skew_is_tolerated(under_test: VerifierUnderTest) -> None:
    claims = under_test.claims()
    claims["exp"] = now() - 2  # leeway is 5 seconds
    assert await under_test.verifier.verify(under_test.sign(claims, under_test.kid))


async def test_alg_none_is_rejected(under_test: VerifierUnderTest) -> None:
    header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": under_test.kid}).encode())
    token = f"{header}.{b64(json.dumps(under_test.claims()).encode())}."
    await rejected(under_test, token, "algorithm 'none' is not accepted")


async def test_hs256_signed_with_the_rsa_public_key_is_rejected(
    under_test: VerifierUnderTest,
) -> None:
    token = hmac_token(under_test.claims(), under_test.rsa_public_pem, under_test.kid)
    message = "signature" if under_test.name == "hs256" else "algorithm 'HS256' is not accepted"
    await rejected(under_test, token, message)


async def test_token_of_the_other_algorithm_family_is_rejected(
    under_test: VerifierUnderTest,
) -> None:
    claims = under_test.claims()
    if under_test.name == "hs256":
        token = jwt.encode(claims, other_rsa_key(), algorithm="RS256", headers={"kid": "hs256-1"})
        await rejected(under_test, token, "algorithm 'RS256' is not accepted")
    else:
        token = jwt.encode(claims, JWT_SECRET, algorithm="HS256", headers={"kid": MOTO_KID})
        await rejected(under_test, token, "algorithm 'HS256' is not accepted")


async def test_signature_by_another_key_is_rejected(under_test: VerifierUnderTest) -> None:
    await rejected(under_test, under_test.sign_with_other_key(under_test.claims()), "signature")


async def test_expired_token_is_rejected(under_test: VerifierUnderTest) -> None:
    claims = under_test.claims()
    claims["iat"], claims["exp"] = now() - 3600, now() - 60
    if "nbf" in claims:
        claims["nbf"] = claims["iat"]
    await rejected(under_test, under_test.sign(claims, under_test.kid), "expired")


async def test_token_not_yet_valid_is_rejected(under_test: VerifierUnderTest) -> None:
    claims = under_test.claims()
    claims["nbf"] = now() + 600
    await rejected(under_test, under_test.sign(claims, under_test.kid), "not yet valid")


async def test_token_issued_in_the_future_is_rejected(under_test: VerifierUnderTest) -> None:
    claims = under_test.claims()
    claims["iat"] = now() + 600
    await rejected(under_test, under_test.sign(claims, under_test.kid), "not yet valid")


async def test_wrong_issuer_is_rejected(under_test: VerifierUnderTest) -> None:
    claims = under_test.claims()
    claims["iss"] = "https://evil.example.org"
    await rejected(under_test, under_test.sign(claims, under_test.kid), "issuer")


async def test_wrong_audience_is_rejected(under_test: VerifierUnderTest) -> None:
    claims = under_test.claims()
    claims[under_test.audience_claim] = "someone-else"
    await rejected(under_test, under_test.sign(claims, under_test.kid), "audience")


@pytest.mark.parametrize("token_use", ["id", "refresh", None])
async def test_wrong_token_use_is_rejected(
    under_test: VerifierUnderTest, token_use: str | None
) -> None:
    claims = under_test.claims()
    if token_use is None:
        del claims["token_use"]
        message = "token_use"
    else:
        claims["token_use"] = token_use
        message = "expected an access token"
    await rejected(under_test, under_test.sign(claims, under_test.kid), message)


async def test_missing_subject_is_rejected(under_test: VerifierUnderTest) -> None:
    claims = under_test.claims()
    del claims["sub"]
    await rejected(under_test, under_test.sign(claims, under_test.kid), "'sub'")


async def test_tampered_payload_is_rejected(under_test: VerifierUnderTest) -> None:
    header, _, signature = under_test.sign(under_test.claims(), under_test.kid).split(".")
    forged = under_test.claims()
    forged["roles"] = forged["cognito:groups"] = ["admin"]
    payload = b64(json.dumps(forged).encode())
    await rejected(under_test, f"{header}.{payload}.{signature}", "signature")


@pytest.mark.parametrize("token", ["", "garbage", "a.b", "a.b.c", "x" * 50])
async def test_malformed_token_is_rejected(under_test: VerifierUnderTest, token: str) -> None:
    with pytest.raises(AuthenticationFailed, match="Invalid token"):
        await under_test.verifier.verify(token)


async def test_unknown_kid_is_rejected_after_one_rate_limited_refresh(
    under_test: VerifierUnderTest,
) -> None:
    assert await under_test.verifier.verify(under_test.sign(under_test.claims(), under_test.kid))
    before = len(under_test.jwks_fetches) if under_test.jwks_fetches is not None else 0
    under_test.clock.now += 60  # past the minimum refresh interval

    await rejected(under_test, under_test.sign(under_test.claims(), "rotated-away"), "kid")
    await rejected(under_test, under_test.sign(under_test.claims(), "another-kid"), "kid")

    if under_test.jwks_fetches is not None:
        assert before == 1  # the JWKS was fetched once, then served from the cache
        assert len(under_test.jwks_fetches) == 2  # ONE refresh for the unknown kid, then limited
        assert all(url.endswith("/.well-known/jwks.json") for url in under_test.jwks_fetches)


# --- Cognito verifier specifics ------------------------------------------------------------------


class RotatingJwks:
    """A JWKS endpoint served from local keys (the keys can rotate between requests)."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {"k1": other_rsa_key()}
        self.requests = 0
        self.status = 200

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.status != 200:
            return httpx.Response(self.status, text="unavailable")
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
        return httpx.Response(200, json={"keys": keys})


def local_claims(client_id: str = "client-1") -> dict[str, Any]:
    t = now()
    return {
        "iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_pool",
        "client_id": client_id,
        "sub": str(uuid.uuid4()),
        "username": "bob",
        "token_use": "access",
        "iat": t,
        "exp": t + 600,
    }


def local_verifier(jwks: RotatingJwks, clock: FakeClock, **options: Any) -> CognitoJwtVerifier:
    return CognitoJwtVerifier(
        region="eu-west-1",
        user_pool_id="eu-west-1_pool",
        client_ids=["client-1"],
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(jwks.handler)),
        clock=clock,
        **options,
    )


async def test_rotated_key_is_picked_up_by_one_refresh() -> None:
    jwks, clock = RotatingJwks(), FakeClock()
    verifier = local_verifier(jwks, clock, min_refresh_interval_seconds=30)
    old = jwt.encode(local_claims(), jwks.keys["k1"], algorithm="RS256", headers={"kid": "k1"})
    assert (await verifier.verify(old)).username == "bob"

    jwks.keys["k2"] = other_rsa_key()
    new = jwt.encode(local_claims(), jwks.keys["k2"], algorithm="RS256", headers={"kid": "k2"})
    with pytest.raises(AuthenticationFailed, match="kid"):  # refreshed too recently
        await verifier.verify(new)
    assert jwks.requests == 1

    clock.now += 31
    assert (await verifier.verify(new)).username == "bob"
    assert (await verifier.verify(old)).username == "bob"
    assert jwks.requests == 2


async def test_cache_expires_after_its_ttl() -> None:
    jwks, clock = RotatingJwks(), FakeClock()
    verifier = local_verifier(jwks, clock, jwks_ttl_seconds=300)
    token = jwt.encode(local_claims(), jwks.keys["k1"], algorithm="RS256", headers={"kid": "k1"})
    await verifier.verify(token)
    await verifier.verify(token)
    assert jwks.requests == 1
    clock.now += 301
    await verifier.verify(token)
    assert jwks.requests == 2


async def test_id_tokens_are_checked_against_aud() -> None:
    jwks, clock = RotatingJwks(), FakeClock()
    verifier = local_verifier(jwks, clock, token_use="id")
    claims = local_claims()
    del claims["client_id"]
    claims.update(token_use="id", aud="client-1", email="bob@example.org")
    token = jwt.encode(claims, jwks.keys["k1"], algorithm="RS256", headers={"kid": "k1"})
    assert (await verifier.verify(token)).email == "bob@example.org"
    claims["aud"] = "client-2"
    token = jwt.encode(claims, jwks.keys["k1"], algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(AuthenticationFailed, match="audience"):
        await verifier.verify(token)


async def test_jwks_outage_is_backend_unavailable_not_401() -> None:
    jwks, clock = RotatingJwks(), FakeClock()
    jwks.status = 500
    verifier = local_verifier(jwks, clock)
    token = jwt.encode(local_claims(), jwks.keys["k1"], algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(BackendUnavailable, match="HTTP 500"):
        await verifier.verify(token)
    with pytest.raises(BackendUnavailable):  # rate limited: answered without a new fetch
        await verifier.verify(token)
    assert jwks.requests == 1


async def test_unreachable_jwks_is_backend_unavailable() -> None:
    verifier = CognitoJwtVerifier(
        region=REGION,
        user_pool_id="us-east-1_nowhere",
        client_ids="client-1",
        jwks_url=f"http://127.0.0.1:{free_port()}/us-east-1_nowhere/.well-known/jwks.json",
        timeout_seconds=2,
    )
    await verifier.start()
    try:
        token = jwt.encode(local_claims(), other_rsa_key(), algorithm="RS256", headers={"kid": "k"})
        with pytest.raises(BackendUnavailable, match="Cognito JWKS"):
            await verifier.verify(token)
    finally:
        await verifier.close()


async def test_known_key_survives_a_jwks_outage() -> None:
    jwks, clock = RotatingJwks(), FakeClock()
    verifier = local_verifier(jwks, clock, jwks_ttl_seconds=60, min_refresh_interval_seconds=10)
    token = jwt.encode(local_claims(), jwks.keys["k1"], algorithm="RS256", headers={"kid": "k1"})
    await verifier.verify(token)
    jwks.status = 503
    clock.now += 61  # cache stale; the refresh fails; the stale key is still used
    assert (await verifier.verify(token)).username == "bob"
    assert jwks.requests == 2
