"""Every way an access token can be wrong is a 401 in the envelope with WWW-Authenticate."""

import asyncio
import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from modules.auth.tokens import ALGORITHM, AUDIENCE
from tests.accounts import Account, bearer
from tests.conftest import SECRET

ME = "/api/v1/users/me"


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json()["error"]
    assert error["code"] == "UNAUTHORIZED"
    assert error["request_id"] == response.headers["x-request-id"]


def claims_of(account: Account) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        account.tokens["access_token"], SECRET, algorithms=[ALGORITHM], audience=AUDIENCE
    )
    return claims


def forge(claims: dict[str, Any], key: str = SECRET, algorithm: str = ALGORITHM) -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_a_valid_token_works(client: httpx.AsyncClient, alice: Account) -> None:
    assert (await client.get(ME, headers=alice.headers)).status_code == 200


async def test_alg_none_is_refused(client: httpx.AsyncClient, alice: Account) -> None:
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims_of(alice))}."
    assert_unauthorized(await client.get(ME, headers=bearer(unsigned)))


async def test_a_tampered_signature_is_refused(client: httpx.AsyncClient, alice: Account) -> None:
    header, payload, signature = alice.tokens["access_token"].split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    assert_unauthorized(await client.get(ME, headers=bearer(f"{header}.{payload}.{flipped}")))


async def test_a_tampered_payload_is_refused(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    header, _, signature = alice.tokens["access_token"].split(".")
    other_payload = bob.tokens["access_token"].split(".")[1]
    assert_unauthorized(
        await client.get(ME, headers=bearer(f"{header}.{other_payload}.{signature}"))
    )


async def test_a_token_signed_with_another_key_is_refused(
    client: httpx.AsyncClient, alice: Account
) -> None:
    token = forge(claims_of(alice), key="another-secret-key-of-at-least-32-bytes")
    assert_unauthorized(await client.get(ME, headers=bearer(token)))


# The right key with another algorithm (the key is short for HS512, hence the warning).
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_another_algorithm_is_refused(client: httpx.AsyncClient, alice: Account) -> None:
    token = forge(claims_of(alice), algorithm="HS512")
    assert_unauthorized(await client.get(ME, headers=bearer(token)))


async def test_an_expired_token_is_refused(client: httpx.AsyncClient, alice: Account) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    token = forge(claims_of(alice) | {"iat": past - timedelta(minutes=15), "exp": past})
    assert_unauthorized(await client.get(ME, headers=bearer(token)))


async def test_a_token_that_worked_is_refused_once_it_expires(
    client: httpx.AsyncClient, alice: Account
) -> None:
    """Verified tokens are remembered (modules/auth/tokens.py), never past their expiry."""
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    token = forge(claims_of(alice) | {"exp": expires})
    assert (await client.get(ME, headers=bearer(token))).status_code == 200
    await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.1)
    assert_unauthorized(await client.get(ME, headers=bearer(token)))


async def test_a_wrong_audience_is_refused(client: httpx.AsyncClient, alice: Account) -> None:
    token = forge(claims_of(alice) | {"aud": "fastapi-users:auth"})
    assert_unauthorized(await client.get(ME, headers=bearer(token)))


@pytest.mark.parametrize("claim", ["sub", "sid", "exp", "iat", "aud"])
async def test_a_token_missing_a_claim_is_refused(
    client: httpx.AsyncClient, alice: Account, claim: str
) -> None:
    claims = claims_of(alice)
    del claims[claim]
    assert_unauthorized(await client.get(ME, headers=bearer(forge(claims))))


async def test_a_token_naming_a_session_that_is_not_the_users_is_refused(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    # Alice's user id with Bob's (live) session: the session must belong to the user.
    token = forge(claims_of(alice) | {"sid": claims_of(bob)["sid"]})
    assert_unauthorized(await client.get(ME, headers=bearer(token)))
    token = forge(claims_of(alice) | {"sid": str(uuid.uuid4())})
    assert_unauthorized(await client.get(ME, headers=bearer(token)))


async def test_a_token_of_a_deleted_user_is_refused(
    client: httpx.AsyncClient, alice: Account
) -> None:
    assert (await client.delete(ME, headers=alice.headers)).status_code == 204
    assert_unauthorized(await client.get(ME, headers=alice.headers))


async def test_a_token_of_a_deactivated_user_is_refused_at_once(
    client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    await connection.execute(
        text("UPDATE users SET is_active = false WHERE id = :id"), {"id": alice.id}
    )
    assert_unauthorized(await client.get(ME, headers=alice.headers))


async def test_a_token_of_a_logged_out_session_is_refused(
    client: httpx.AsyncClient, alice: Account
) -> None:
    await client.post("/api/v1/auth/jwt/logout", headers=alice.headers)
    assert_unauthorized(await client.get(ME, headers=alice.headers))


async def test_a_token_of_an_expired_session_is_refused(
    client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    await connection.execute(text("UPDATE auth_sessions SET expires_at = now() - interval '1 s'"))
    assert_unauthorized(await client.get(ME, headers=alice.headers))


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer garbage",
        "Bearer a.b.c",
        "Basic YWxpY2U6c2VjcmV0",
        "garbage",
        "Bearer " + "x" * 4000,
    ],
)
async def test_a_garbage_authorization_header_is_refused(
    client: httpx.AsyncClient, header: str
) -> None:
    assert_unauthorized(await client.get(ME, headers={"Authorization": header}))


async def test_no_authorization_header_is_refused(client: httpx.AsyncClient) -> None:
    assert_unauthorized(await client.get(ME))
