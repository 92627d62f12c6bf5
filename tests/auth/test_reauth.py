"""Re-authentication ("sudo mode") and the password and code checks that count (README,
"Account protection"), through HTTP on real PostgreSQL."""

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from dependency_injector import providers
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from modules.auth.throttle import throttle_key
from modules.users.passwords import PasswordHasher
from tests.accounts import PASSWORD, Account, bearer, login, new_email, register
from tests.conftest import forget_committed_user, http_client
from tests.totp import TwoFactorAccount, clear_of_a_step_boundary, enable_two_factor

REAUTH = "/api/v1/auth/reauth"
SETUP = "/api/v1/auth/2fa/setup"
ENABLE = "/api/v1/auth/2fa/enable"
DISABLE = "/api/v1/auth/2fa/disable"
ME = "/api/v1/users/me"
LOGIN = "/api/v1/auth/jwt/login"
REFRESH = "/api/v1/auth/jwt/refresh"


def code_of(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def age_the_proof(connection: AsyncConnection, account: Account, minutes: int = 11) -> None:
    """The session's last password proof, `minutes` ago (REAUTH_WINDOW_MINUTES is 10)."""
    await connection.execute(
        text(
            "UPDATE auth_sessions SET authenticated_at = now() - make_interval(mins => :m)"
            " WHERE user_id = :u"
        ),
        {"m": minutes, "u": account.id},
    )


async def audit_actions(connection: AsyncConnection, account: Account) -> list[str]:
    rows = await connection.execute(
        text("SELECT action FROM audit_events WHERE target_id = :u ORDER BY at"),
        {"u": account.id},
    )
    return list(rows.scalars())


@pytest.fixture
async def carol(client: httpx.AsyncClient, alice: Account) -> TwoFactorAccount:
    return await enable_two_factor(client, alice)


async def test_sensitive_routes_need_a_recent_password_proof(
    client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    await age_the_proof(connection, alice)
    refused = [
        await client.post(SETUP, headers=alice.headers),
        await client.post(ENABLE, headers=alice.headers, json={"code": "123456"}),
        await client.post(
            DISABLE, headers=alice.headers, json={"current_password": PASSWORD, "code": "123456"}
        ),
        await client.delete(ME, headers=alice.headers),
    ]
    assert [(r.status_code, code_of(r)) for r in refused] == [(401, "REAUTH_REQUIRED")] * 4
    # Other routes do not ask for it.
    assert (await client.get(ME, headers=alice.headers)).status_code == 200

    proved = await client.post(REAUTH, headers=alice.headers, json={"password": PASSWORD})
    assert proved.status_code == 204
    assert (await client.post(SETUP, headers=alice.headers)).status_code == 200
    assert "auth.reauth.succeeded" in await audit_actions(connection, alice)


async def test_a_login_is_a_proof_and_a_refresh_is_not(
    client: httpx.AsyncClient, alice: Account, connection: AsyncConnection
) -> None:
    assert (await client.post(SETUP, headers=alice.headers)).status_code == 200  # just logged in
    await age_the_proof(connection, alice, minutes=9)
    assert (await client.post(SETUP, headers=alice.headers)).status_code == 200  # within 10 min
    await age_the_proof(connection, alice)
    refreshed = await client.post(REFRESH, json={"refresh_token": alice.tokens["refresh_token"]})
    headers = bearer(refreshed.json()["access_token"])
    assert code_of(await client.post(SETUP, headers=headers)) == "REAUTH_REQUIRED"
    # A new login is a new session, proved at its login.
    fresh = bearer((await login(client, alice.email))["access_token"])
    assert (await client.post(SETUP, headers=fresh)).status_code == 200


async def test_with_2fa_on_reauth_needs_a_code_too(
    client: httpx.AsyncClient, carol: TwoFactorAccount, connection: AsyncConnection
) -> None:
    account = carol.account
    await age_the_proof(connection, account)
    without = await client.post(REAUTH, headers=account.headers, json={"password": PASSWORD})
    assert (without.status_code, code_of(without)) == (400, "MFA_INVALID_CODE")
    await clear_of_a_step_boundary()
    proved = await client.post(
        REAUTH, headers=account.headers, json={"password": PASSWORD, "code": carol.code()}
    )
    assert proved.status_code == 204
    # The proof lets 2FA be turned off (with the password and a code again).
    disabled = await client.post(
        DISABLE,
        headers=account.headers,
        json={"current_password": PASSWORD, "code": carol.recovery_codes[0]},
    )
    assert disabled.status_code == 204


async def test_reauth_refuses_a_wrong_password_and_malformed_codes(
    client: httpx.AsyncClient, alice: Account
) -> None:
    wrong = await client.post(REAUTH, headers=alice.headers, json={"password": "not-it-at-all"})
    assert (wrong.status_code, code_of(wrong)) == (400, "INVALID_CURRENT_PASSWORD")
    for code in ["12345", "\u0661\u0662\u0663\u0664\u0665\u0666"]:
        malformed = await client.post(
            REAUTH, headers=alice.headers, json={"password": PASSWORD, "code": code}
        )
        assert (malformed.status_code, code_of(malformed)) == (422, "VALIDATION_ERROR")
    assert (await client.post(REAUTH, json={"password": PASSWORD})).status_code == 401


@pytest.mark.parametrize("route", ["reauth", "patch-me"])
async def test_wrong_passwords_count_as_failed_logins_and_are_audited(
    client: httpx.AsyncClient, alice: Account, connection: AsyncConnection, route: str
) -> None:
    async def wrong_password() -> httpx.Response:
        if route == "reauth":
            return await client.post(
                REAUTH, headers=alice.headers, json={"password": "not-it-at-all"}
            )
        return await client.patch(
            ME,
            headers=alice.headers,
            json={"password": "a-brand-new-secret", "current_password": "not-it-at-all"},
        )

    answers = [await wrong_password() for _ in range(6)]
    assert [code_of(r) for r in answers] == ["INVALID_CURRENT_PASSWORD"] * 5 + ["LOGIN_THROTTLED"]
    assert answers[-1].headers["Retry-After"]
    # The same counter as the login form's: the right password waits too.
    at_login = await client.post(LOGIN, data={"username": alice.email, "password": PASSWORD})
    assert code_of(at_login) == "LOGIN_THROTTLED"
    assert (await audit_actions(connection, alice)).count("auth.reauth.failed") == 5


async def test_wrong_codes_on_2fa_disable_count_too(
    client: httpx.AsyncClient, carol: TwoFactorAccount
) -> None:
    account = carol.account
    body = {"current_password": PASSWORD, "code": "000000"}
    answers = [await client.post(DISABLE, headers=account.headers, json=body) for _ in range(6)]
    assert [code_of(r) for r in answers] == ["MFA_INVALID_CODE"] * 5 + ["LOGIN_THROTTLED"]


async def test_a_right_password_clears_the_count(client: httpx.AsyncClient, alice: Account) -> None:
    for _ in range(4):
        await client.post(REAUTH, headers=alice.headers, json={"password": "not-it-at-all"})
    ok = await client.post(REAUTH, headers=alice.headers, json={"password": PASSWORD})
    assert ok.status_code == 204
    for _ in range(4):  # four more failures: still below the threshold of five in a row
        await client.post(REAUTH, headers=alice.headers, json={"password": "not-it-at-all"})
    assert (await login(client, alice.email))["access_token"]


# --- the throttle under concurrency, with real commits -------------------------------------

BURST = 20


@pytest.fixture
async def committed(
    app_factory: Callable[..., FastAPI], engine: AsyncEngine
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    # Rate limits off and every attempt admitted to hashing: the burst is about the account's
    # throttle, not the address's limit nor load shedding.
    app = app_factory(rate_limit_enabled=False)
    app.state.container.users.password_hasher.override(
        providers.Object(PasswordHasher.at_minimal_cost(max_admitted=BURST))
    )
    email = new_email("burst")
    async with app.router.lifespan_context(app), http_client(app) as client:
        await register(client, email)
        yield client, email
    await forget_committed_user(engine, "email = :e", e=email)
    async with engine.begin() as connection:
        await connection.execute(
            text("DELETE FROM login_throttles WHERE key = :k"), {"k": throttle_key(email)}
        )


async def test_of_a_burst_of_wrong_passwords_at_most_five_are_checked(
    committed: tuple[httpx.AsyncClient, str],
) -> None:
    client, email = committed
    answers = await asyncio.gather(
        *(
            client.post(LOGIN, data={"username": email, "password": f"wrong-{n}"})
            for n in range(BURST)
        )
    )
    codes = [code_of(r) for r in answers]
    assert codes.count("LOGIN_BAD_CREDENTIALS") <= 5
    assert codes.count("LOGIN_THROTTLED") >= BURST - 5
    assert set(codes) == {"LOGIN_BAD_CREDENTIALS", "LOGIN_THROTTLED"}


async def test_of_a_burst_of_wrong_codes_across_mfa_tokens_at_most_five_are_checked(
    committed: tuple[httpx.AsyncClient, str],
) -> None:
    client, email = committed
    await enable_two_factor(client, Account("", email, PASSWORD, await login(client, email)))
    mfa_tokens: list[str] = []
    for _ in range(4):  # each password step is right: it does not count
        step = await client.post(LOGIN, data={"username": email, "password": PASSWORD})
        mfa_tokens.append(step.json()["error"]["mfa_token"])
    answers = await asyncio.gather(
        *(
            client.post(
                "/api/v1/auth/jwt/login/2fa",
                json={"mfa_token": mfa_tokens[n % len(mfa_tokens)], "code": "000000"},
            )
            for n in range(BURST)
        )
    )
    codes = [code_of(r) for r in answers]
    assert codes.count("MFA_INVALID_CODE") <= 5
    assert "LOGIN_THROTTLED" in codes
