"""TOTP two-factor login (README, "Account protection"), through HTTP on real PostgreSQL."""

import asyncio
import hashlib
import re
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from devtools.local_servers.mailbox import Mailbox
from tests.accounts import PASSWORD, Account, bearer, create_account, login, new_email, register
from tests.auth.test_router import reset_token
from tests.conftest import forget_committed_user, http_client
from tests.totp import (
    TwoFactorAccount,
    clear_of_a_step_boundary,
    enable_two_factor,
    mfa_token,
    second_step,
)

SETUP = "/api/v1/auth/2fa/setup"
ENABLE = "/api/v1/auth/2fa/enable"
DISABLE = "/api/v1/auth/2fa/disable"
LOGIN = "/api/v1/auth/jwt/login"


def code_of(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


@pytest.fixture
async def carol(client: httpx.AsyncClient) -> TwoFactorAccount:
    return await enable_two_factor(client, await create_account(client, "carol"))


async def test_setup_gives_a_secret_and_its_otpauth_uri(
    client: httpx.AsyncClient, alice: Account
) -> None:
    response = await client.post(SETUP, headers=alice.headers)
    assert response.status_code == 200
    body = response.json()
    assert len(body["secret"]) >= 16
    assert body["otpauth_uri"].startswith("otpauth://totp/")
    assert f"secret={body['secret']}" in body["otpauth_uri"]
    assert "issuer=modulith" in body["otpauth_uri"]
    me = await client.get("/api/v1/users/me", headers=alice.headers)
    assert me.json()["mfa_enabled"] is False  # pending until enabled


async def test_the_secret_is_stored_encrypted(
    client: httpx.AsyncClient, carol: TwoFactorAccount, connection: AsyncConnection
) -> None:
    stored = (
        await connection.execute(
            text("SELECT encrypted_secret FROM totp_secrets WHERE user_id = :u"),
            {"u": carol.account.id},
        )
    ).scalar_one()
    assert carol.secret not in stored
    assert stored.startswith("gAAAAA")  # a Fernet token


async def test_enable_returns_ten_single_use_recovery_codes_stored_as_hashes(
    client: httpx.AsyncClient, carol: TwoFactorAccount, connection: AsyncConnection
) -> None:
    assert len(carol.recovery_codes) == len(set(carol.recovery_codes)) == 10
    stored = (
        await connection.execute(
            text("SELECT code_hash FROM recovery_codes WHERE user_id = :u"),
            {"u": carol.account.id},
        )
    ).scalars()
    hashes = set(stored)
    assert len(hashes) == 10
    assert not hashes & set(carol.recovery_codes)
    # 80 bits each: 16 base32 characters, shown in groups of four.
    assert all(re.fullmatch(r"([A-Z2-7]{4}-){3}[A-Z2-7]{4}", c) for c in carol.recovery_codes)
    # Keyed hashes: a copy of the table cannot be searched without SECRET_KEY's derived key.
    plain = {hashlib.sha256(c.replace("-", "").encode()).hexdigest() for c in carol.recovery_codes}
    assert not hashes & plain
    me = await client.get("/api/v1/users/me", headers=carol.account.headers)
    assert me.json()["mfa_enabled"] is True


async def test_a_recovery_code_of_the_old_rules_still_works_once(
    client: httpx.AsyncClient, carol: TwoFactorAccount, connection: AsyncConnection
) -> None:
    # Made before the 80-bit rule: 10 characters, stored as plain SHA-256.
    old_code = "ABCDE-FGH23"
    await connection.execute(
        text("INSERT INTO recovery_codes (id, user_id, code_hash) VALUES (:id, :u, :h)"),
        {
            "id": uuid.uuid4(),
            "u": carol.account.id,
            "h": hashlib.sha256(b"ABCDEFGH23").hexdigest(),
        },
    )
    first = await second_step(client, await mfa_token(client, carol.account), old_code.lower())
    assert first.status_code == 200, first.text
    again = await second_step(client, await mfa_token(client, carol.account), old_code)
    assert (again.status_code, code_of(again)) == (400, "MFA_INVALID_CODE")


async def test_a_second_setup_replaces_the_pending_secret(
    client: httpx.AsyncClient, alice: Account
) -> None:
    first = (await client.post(SETUP, headers=alice.headers)).json()["secret"]
    second = (await client.post(SETUP, headers=alice.headers)).json()["secret"]
    assert first != second
    await clear_of_a_step_boundary()
    stale, current = pyotp.TOTP(first).now(), pyotp.TOTP(second).now()
    response = await client.post(ENABLE, headers=alice.headers, json={"code": stale})
    # The two secrets' codes agree once in a million: then the stale code is a right one.
    assert code_of(response) == "MFA_INVALID_CODE" or stale == current


async def test_enable_without_setup_is_409_not_set_up(
    client: httpx.AsyncClient, alice: Account
) -> None:
    response = await client.post(ENABLE, headers=alice.headers, json={"code": "123456"})
    assert (response.status_code, code_of(response)) == (409, "MFA_NOT_SET_UP")


async def test_enable_with_a_wrong_code_is_400_and_leaves_2fa_off(
    client: httpx.AsyncClient, alice: Account
) -> None:
    await client.post(SETUP, headers=alice.headers)
    response = await client.post(ENABLE, headers=alice.headers, json={"code": "000000"})
    assert (response.status_code, code_of(response)) == (400, "MFA_INVALID_CODE")
    me = await client.get("/api/v1/users/me", headers=alice.headers)
    assert me.json()["mfa_enabled"] is False


async def test_setup_and_enable_when_already_on_are_409(
    client: httpx.AsyncClient, carol: TwoFactorAccount
) -> None:
    headers = carol.account.headers
    setup = await client.post(SETUP, headers=headers)
    enable = await client.post(ENABLE, headers=headers, json={"code": carol.code()})
    assert (setup.status_code, code_of(setup)) == (409, "MFA_ALREADY_ENABLED")
    assert (enable.status_code, code_of(enable)) == (409, "MFA_ALREADY_ENABLED")


@pytest.mark.parametrize(
    "code",
    [
        "12345",
        "1234567",
        "12a456",
        "",
        "ABCDE-FGHIJ-KL",
        "\u0661\u0662\u0663\u0664\u0665\u0666",  # Arabic-Indic digits: were a 500
        "\uff11\uff12\uff13\uff14\uff15\uff16",  # fullwidth digits
    ],
)
async def test_codes_of_the_wrong_shape_are_422(
    client: httpx.AsyncClient, alice: Account, code: str
) -> None:
    await client.post(SETUP, headers=alice.headers)
    response = await client.post(ENABLE, headers=alice.headers, json={"code": code})
    assert (response.status_code, code_of(response)) == (422, "VALIDATION_ERROR")
    login_step = await second_step(client, "x" * 43, code)
    assert login_step.status_code == 422


async def test_login_with_2fa_on_answers_mfa_required_and_opens_no_session(
    client: httpx.AsyncClient, carol: TwoFactorAccount, connection: AsyncConnection
) -> None:
    before = await count_sessions(connection, carol.account.id)
    response = await client.post(
        LOGIN, data={"username": carol.account.email, "password": PASSWORD}
    )
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "MFA_REQUIRED"
    assert len(error["mfa_token"]) >= 40
    assert "access_token" not in response.text
    assert await count_sessions(connection, carol.account.id) == before


async def count_sessions(connection: AsyncConnection, user_id: str) -> int:
    result = await connection.execute(
        text("SELECT count(*) FROM auth_sessions WHERE user_id = :u"), {"u": user_id}
    )
    return int(result.scalar_one())


async def test_the_second_step_with_a_totp_code_gives_a_working_token_pair(
    client: httpx.AsyncClient, carol: TwoFactorAccount
) -> None:
    token = await mfa_token(client, carol.account)
    await clear_of_a_step_boundary()
    response = await second_step(client, token, carol.code())
    assert response.status_code == 200, response.text
    tokens = response.json()
    me = await client.get("/api/v1/users/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    refreshed = await client.post(
        "/api/v1/auth/jwt/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200
    # The mfa_token is single use.
    again = await second_step(client, token, carol.code(1))
    assert code_of(again) == "MFA_TOKEN_INVALID"


async def test_a_totp_code_is_accepted_once_only(
    client: httpx.AsyncClient, carol: TwoFactorAccount
) -> None:
    await clear_of_a_step_boundary()
    code = carol.code()
    first = await second_step(client, await mfa_token(client, carol.account), code)
    replayed = await second_step(client, await mfa_token(client, carol.account), code)
    assert first.status_code == 200
    assert (replayed.status_code, code_of(replayed)) == (400, "MFA_INVALID_CODE")
    # Nor an older code once a newer one was used (the one enable used is older still).
    older = await second_step(client, await mfa_token(client, carol.account), carol.code(-1))
    assert code_of(older) == "MFA_INVALID_CODE"


async def test_a_code_from_the_next_step_is_accepted_but_not_one_two_steps_away(
    client: httpx.AsyncClient, carol: TwoFactorAccount
) -> None:
    await clear_of_a_step_boundary()
    far = await second_step(client, await mfa_token(client, carol.account), carol.code(2))
    assert code_of(far) == "MFA_INVALID_CODE"
    near = await second_step(client, await mfa_token(client, carol.account), carol.code(1))
    assert near.status_code == 200


async def test_a_recovery_code_logs_in_once(
    client: httpx.AsyncClient, carol: TwoFactorAccount
) -> None:
    code = carol.recovery_codes[3]
    first = await second_step(client, await mfa_token(client, carol.account), code.lower())
    assert first.status_code == 200, first.text
    again = await second_step(client, await mfa_token(client, carol.account), code)
    assert (again.status_code, code_of(again)) == (400, "MFA_INVALID_CODE")
    # Spelled without the dash, another one works.
    other = carol.recovery_codes[4].replace("-", "")
    assert (await second_step(client, await mfa_token(client, carol.account), other)).is_success


async def test_five_wrong_codes_end_the_mfa_token(
    client: httpx.AsyncClient, carol: TwoFactorAccount
) -> None:
    token = await mfa_token(client, carol.account)
    for _ in range(5):
        wrong = await second_step(client, token, "000000")
        assert code_of(wrong) == "MFA_INVALID_CODE"
    await clear_of_a_step_boundary()
    right = await second_step(client, token, carol.code())
    assert (right.status_code, code_of(right)) == (400, "MFA_TOKEN_INVALID")


@pytest.mark.parametrize("token", ["", "not-a-token", "x" * 512, "ü" * 10])
async def test_an_unknown_or_malformed_mfa_token_is_400(
    client: httpx.AsyncClient, token: str
) -> None:
    response = await second_step(client, token, "123456")
    assert (response.status_code, code_of(response)) == (400, "MFA_TOKEN_INVALID")


async def test_an_overlong_mfa_token_is_422(client: httpx.AsyncClient) -> None:
    response = await second_step(client, "x" * 513, "123456")
    assert response.status_code == 422


async def test_an_expired_mfa_token_is_400(
    client: httpx.AsyncClient, carol: TwoFactorAccount, connection: AsyncConnection
) -> None:
    token = await mfa_token(client, carol.account)
    await connection.execute(
        text("UPDATE mfa_challenges SET expires_at = now() - interval '1 second'")
    )
    await clear_of_a_step_boundary()
    response = await second_step(client, token, carol.code())
    assert code_of(response) == "MFA_TOKEN_INVALID"


async def test_disable_needs_the_password_and_a_code(
    client: httpx.AsyncClient, carol: TwoFactorAccount
) -> None:
    headers = carol.account.headers
    wrong_password = await client.post(
        DISABLE, headers=headers, json={"current_password": "nope-nope", "code": carol.code()}
    )
    assert (wrong_password.status_code, code_of(wrong_password)) == (
        400,
        "INVALID_CURRENT_PASSWORD",
    )
    wrong_code = await client.post(
        DISABLE, headers=headers, json={"current_password": PASSWORD, "code": "000000"}
    )
    assert (wrong_code.status_code, code_of(wrong_code)) == (400, "MFA_INVALID_CODE")
    done = await client.post(
        DISABLE,
        headers=headers,
        json={"current_password": PASSWORD, "code": carol.recovery_codes[0]},
    )
    assert done.status_code == 204
    assert (await client.get("/api/v1/users/me", headers=headers)).json()["mfa_enabled"] is False
    await login(client, carol.account.email)  # one step again
    again = await client.post(
        DISABLE, headers=headers, json={"current_password": PASSWORD, "code": "123456"}
    )
    assert (again.status_code, code_of(again)) == (409, "MFA_NOT_ENABLED")


async def test_2fa_survives_a_password_reset(
    app: FastAPI,
    connection: AsyncConnection,
    client: httpx.AsyncClient,
    carol: TwoFactorAccount,
    mailbox: Mailbox,
) -> None:
    token = await reset_token(app, connection, client, mailbox, carol.account.email)
    reset = await client.post(
        "/api/v1/auth/reset-password", json={"token": token, "password": "a-brand-new-secret"}
    )
    assert reset.status_code == 200
    response = await client.post(
        LOGIN, data={"username": carol.account.email, "password": "a-brand-new-secret"}
    )
    assert code_of(response) == "MFA_REQUIRED"


async def test_a_superuser_can_turn_a_users_2fa_off(
    client: httpx.AsyncClient,
    carol: TwoFactorAccount,
    admin: Account,
    connection: AsyncConnection,
) -> None:
    response = await client.patch(
        f"/api/v1/users/{carol.account.id}", headers=admin.headers, json={"mfa_enabled": False}
    )
    assert response.status_code == 200
    assert response.json()["mfa_enabled"] is False
    await login(client, carol.account.email)  # no second step
    left = await connection.execute(
        text(
            "SELECT (SELECT count(*) FROM totp_secrets WHERE user_id = :u)"
            " + (SELECT count(*) FROM recovery_codes WHERE user_id = :u)"
        ),
        {"u": carol.account.id},
    )
    assert left.scalar_one() == 0


async def test_nobody_can_turn_2fa_on_through_patch(
    client: httpx.AsyncClient, alice: Account, admin: Account
) -> None:
    by_admin = await client.patch(
        f"/api/v1/users/{alice.id}", headers=admin.headers, json={"mfa_enabled": True}
    )
    assert by_admin.status_code == 422
    by_self = await client.patch(
        "/api/v1/users/me", headers=alice.headers, json={"mfa_enabled": True}
    )
    assert by_self.status_code == 200
    assert by_self.json()["mfa_enabled"] is False


# --- races, with real commits ----------------------------------------------------------------


@pytest.fixture
async def committed(
    app_factory: Callable[..., FastAPI], engine: AsyncEngine
) -> AsyncIterator[tuple[httpx.AsyncClient, TwoFactorAccount]]:
    app = app_factory()
    email = new_email("racer")
    async with app.router.lifespan_context(app), http_client(app) as client:
        user_id = await register(client, email)
        account = Account(user_id, email, PASSWORD, await login(client, email))
        yield client, await enable_two_factor(client, account)
    await forget_committed_user(engine, "email = :e", e=email)


async def race(client: httpx.AsyncClient, account: Account, code: str) -> list[int]:
    tokens = [await mfa_token(client, account) for _ in range(4)]
    responses: list[Any] = await asyncio.gather(
        *(second_step(client, token, code) for token in tokens)
    )
    return sorted(response.status_code for response in responses)


async def test_one_totp_code_raced_on_four_connections_is_accepted_once(
    committed: tuple[httpx.AsyncClient, TwoFactorAccount],
) -> None:
    client, carol = committed
    await clear_of_a_step_boundary()
    assert await race(client, carol.account, carol.code()) == [200, 400, 400, 400]


async def test_one_recovery_code_raced_on_four_connections_is_accepted_once(
    committed: tuple[httpx.AsyncClient, TwoFactorAccount],
) -> None:
    client, carol = committed
    assert await race(client, carol.account, carol.recovery_codes[0]) == [200, 400, 400, 400]
